-- wrk script for bench/run.sh: POSTs one GraphQL document over and over (or, with
-- WRK_METHOD=GET, GETs the URL, a REST route, without a body).
--
--   WRK_METHOD     POST (default) or GET
--   WRK_BODY_FILE  file holding the JSON body ({"query": …, "variables": …})   (required for POST)
--   WRK_TOKEN      sent as `Authorization: Bearer $WRK_TOKEN` when set and not empty
--
-- done() prints one machine-readable line, read by run.sh:
--   BENCH requests=… duration_s=… rps=… p50_ms=… p90_ms=… p99_ms=… max_ms=… non2xx=… …

local method = os.getenv("WRK_METHOD")
if method == nil or method == "" then
  method = "POST"
end
wrk.method = method
wrk.headers["Accept"] = "application/json"

if method ~= "GET" then
  local body_file = os.getenv("WRK_BODY_FILE")
  if body_file == nil or body_file == "" then
    error("WRK_BODY_FILE is not set")
  end
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

local token = os.getenv("WRK_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
