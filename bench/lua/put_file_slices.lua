-- PUT slices of a file to distinct names: <prefix>t<tid>-<counter><suffix>, the body of request n is
-- <size> bytes of the file at an offset that depends on n (compressible bodies for a compressing bucket).
-- args: <path prefix> <file> <body size in bytes> [suffix]

local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local prefix, suffix, data, size, span, headers
local counter = 0

function init(args)
  prefix = args[1]
  local f = assert(io.open(args[2], "rb"))
  data = f:read(4 * 1024 * 1024)  -- the first 4 MiB: enough distinct bodies, little memory per thread
  f:close()
  size = tonumber(args[3])
  span = #data - size
  suffix = args[4] or ""
  headers = { ["Content-Type"] = "application/octet-stream" }
  prefix = prefix .. "t" .. tostring(tid or 0) .. "-"
end

function request()
  counter = counter + 1
  local offset = (counter * 7919 * 13) % span
  return wrk.format("PUT", prefix .. tostring(counter) .. suffix, headers, data:sub(offset + 1, offset + size))
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
