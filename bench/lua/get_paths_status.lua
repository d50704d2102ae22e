-- get_paths.lua plus a count of the answers by status class (a check run, not a measured one:
-- a response() hook makes wrk hand every answer to Lua, which costs client CPU).
-- Prints one more line: STATUSJSON {"s2xx": n, "s307": n, "s3xx": n, "s4xx": n, "s5xx": n}
-- (s3xx counts redirects other than 307; wrk itself counts only >= 400 as errors and never
-- follows a redirect).
-- args: <file with one request path per line>

dofile(os.getenv("BENCH_LUA_DIR") .. "/get_paths.lua")

s2xx, s307, s3xx, s4xx, s5xx = 0, 0, 0, 0, 0

function response(status, headers, body)
  if status == 307 then
    s307 = s307 + 1
  elseif status < 300 then
    s2xx = s2xx + 1
  elseif status < 400 then
    s3xx = s3xx + 1
  elseif status < 500 then
    s4xx = s4xx + 1
  else
    s5xx = s5xx + 1
  end
end

local report_done = done

function done(summary, latency, requests)
  report_done(summary, latency, requests)
  local t = { s2xx = 0, s307 = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
  for _, thread in ipairs(bench_threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (thread:get(k) or 0)
    end
  end
  io.write(string.format('STATUSJSON {"s2xx": %d, "s307": %d, "s3xx": %d, "s4xx": %d, "s5xx": %d}\n',
    t.s2xx, t.s307, t.s3xx, t.s4xx, t.s5xx))
end
