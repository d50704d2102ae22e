-- PUT a fixed body to distinct names: <prefix>t<tid>-<counter><suffix>.
-- args: <path prefix> <body size in bytes> [suffix]

local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local prefix, suffix, body, headers
local counter = 0

function init(args)
  prefix = args[1]
  local size = tonumber(args[2])
  suffix = args[3] or ""
  -- a varied, incompressible-looking body (same bytes for every request)
  local parts = {}
  local x = 12345
  for i = 1, size do
    x = (x * 75 + 74) % 65537
    parts[i] = string.char(x % 256)
  end
  body = table.concat(parts)
  headers = { ["Content-Type"] = "application/octet-stream" }
  prefix = prefix .. "t" .. tostring(tid or 0) .. "-"
end

function request()
  counter = counter + 1
  return wrk.format("PUT", prefix .. tostring(counter) .. suffix, headers, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
