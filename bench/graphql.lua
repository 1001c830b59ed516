-- wrk script for bench/run.sh: POSTs one GraphQL document over and over.
--
--   WRK_BODY_FILE  file holding the JSON body ({"query": …, "variables": …})   (required)
--   WRK_TOKEN      sent as `Authorization: Bearer $WRK_TOKEN` when set and not empty
--
-- done() prints one machine-readable line, read by run.sh:
--   BENCH requests=… duration_s=… rps=… p50_ms=… p90_ms=… p99_ms=… max_ms=… non2xx=… …

local body_file = os.getenv("WRK_BODY_FILE")
if body_file == nil or body_file == "" then
  error("WRK_BODY_FILE is not set")
end
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

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
