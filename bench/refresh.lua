-- wrk script for bench/run.sh, workload (h): POST /api/auth/refresh over and over. Each wrk
-- thread has one connection and one session of its own (line N of WRK_TOKENS_FILE for thread
-- N): it spends its refresh token and keeps the next one from each answer, as a client does.
--
--   WRK_TOKENS_FILE  one refresh token per line, at least as many as wrk threads

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("number", threads)
end

function init(args)
  local f = assert(io.open(os.getenv("WRK_TOKENS_FILE"), "rb"))
  local n = 0
  for line in f:lines() do
    n = n + 1
    if n == number then token = line end
  end
  f:close()
  assert(token, "no refresh token for thread " .. number)
end

function request()
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    token = string.match(body, '"refreshToken":"([^"]+)"') or token
  end
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
