-- wrk script: GET /api/sessions/{id} over ids the benchmark sampled from the table, picked at random
-- so the requests spread over the whole primary key instead of hitting one hot row.
local ids = {}
for line in io.lines(os.getenv("MEGAWEB_BENCH_IDS")) do ids[#ids + 1] = line end

request = function()
  return wrk.format("GET", "/api/sessions/" .. ids[math.random(#ids)])
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d errors=%d non2xx=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(99)))
end
