-- GET a set of objects in a cycle, so the load is not one hot file.
-- args: <path prefix> <first index> <count> [suffix]
-- URL of object i: prefix .. string.format("%06d", i) .. suffix
-- Every thread starts at a different offset of the same cycle.

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local requests_list = {}
local position = 1

function init(args)
  local prefix = args[1]
  local first = tonumber(args[2])
  local count = tonumber(args[3])
  local suffix = args[4] or ""
  for i = 0, count - 1 do
    local path = prefix .. string.format("%06d", first + i) .. suffix
    requests_list[i + 1] = wrk.format("GET", path)
  end
  -- spread the threads over the cycle
  position = ((tid or 0) * 7919) % count + 1
end

function request()
  local r = requests_list[position]
  position = position + 1
  if position > #requests_list then position = 1 end
  return r
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
