-- wrk script: POST /api/replicas/heartbeats with bodies of 1000 heartbeats the benchmark wrote, one
-- per line, each thread going round them from its own starting point.
local bodies = {}
for line in io.lines(os.getenv("MEGAWEB_BENCH_BODIES")) do bodies[#bodies + 1] = line end
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("MEGAWEB_BENCH_TOKEN") }
local next = math.random(#bodies)

request = function()
  next = next % #bodies + 1
  return wrk.format("POST", "/api/replicas/heartbeats", headers, bodies[next])
end

done = dofile(os.getenv("MEGAWEB_BENCH_DIR") .. "/wrk-summary.lua")
