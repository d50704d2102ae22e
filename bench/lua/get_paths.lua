-- GET the request paths listed in a file (one per line) in a cycle, so the load is not one hot
-- file and the set can be any subset (e.g. the objects one target owns).
-- args: <file with one request path per line>
-- Every thread starts at a different offset of the same cycle.

bench_threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(bench_threads, thread)
end

local requests_list = {}
local position = 1

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests_list[#requests_list + 1] = wrk.format("GET", line)
    end
  end
  if #requests_list == 0 then
    error("no request paths in " .. args[1])
  end
  position = ((tid or 0) * 7919) % #requests_list + 1
end

function request()
  local r = requests_list[position]
  position = position + 1
  if position > #requests_list then position = 1 end
  return r
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
