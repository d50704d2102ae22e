-- GET a cycle of objects, or PUT a fixed body to distinct names, with the Authorization header taken
-- from $BENCH_AUTHORIZATION when it is set (the auth benchmark's tokens).
-- args: GET <path prefix> <count>   |   PUT <path prefix> <body size in bytes>
-- GET: object i is prefix .. string.format("%06d", i); PUT: prefix .. "t<tid>-<counter>"

local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local method, prefix, headers, body
local requests_list = {}
local position, counter = 1, 0

function init(args)
  method, prefix = args[1], args[2]
  headers = { ["Content-Type"] = "application/octet-stream" }
  local authorization = os.getenv("BENCH_AUTHORIZATION")
  if authorization and authorization ~= "" then
    headers["Authorization"] = authorization
  end
  if method == "GET" then
    local count = tonumber(args[3])
    for i = 0, count - 1 do
      requests_list[i + 1] = wrk.format("GET", prefix .. string.format("%06d", i), headers)
    end
    position = ((tid or 0) * 7919) % count + 1
  else
    local size = tonumber(args[3])
    local parts = {}
    local x = 12345
    for i = 1, size do
      x = (x * 75 + 74) % 65537
      parts[i] = string.char(x % 256)
    end
    body = table.concat(parts)
    prefix = prefix .. "t" .. tostring(tid or 0) .. "-"
  end
end

function request()
  if method == "GET" then
    local r = requests_list[position]
    position = position + 1
    if position > #requests_list then position = 1 end
    return r
  end
  counter = counter + 1
  return wrk.format("PUT", prefix .. tostring(counter), headers, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
