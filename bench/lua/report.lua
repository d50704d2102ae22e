-- Shared done(): one machine-readable line for the harness.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "bytes": %d, "duration_us": %d, "err_connect": %d, "err_read": %d, '
      .. '"err_write": %d, "err_status": %d, "err_timeout": %d, "lat_p50_us": %d, "lat_p99_us": %d, '
      .. '"lat_max_us": %d}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
