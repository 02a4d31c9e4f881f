-- wrk script for bench/dataplane.py (wrk 4.x).
--
-- LBSYNC_BENCH_CLOSE=1 adds "Connection: close" to every request: the load balancer closes the connection after
-- each response and wrk opens a new TCP + TLS connection for the next request. wrk reuses its SSL object after
-- SSL_clear(), which keeps the last session, so the new handshake offers session resumption; the server decides
-- whether it resumes (session cache / tickets) — that cost is part of what this workload measures.
--
-- At the end one line "LBSYNC_WRK {json}": requests, errors by kind, latency percentiles in microseconds.

if os.getenv("LBSYNC_BENCH_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'LBSYNC_WRK {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
