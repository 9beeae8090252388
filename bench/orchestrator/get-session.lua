-- wrk script: GET /api/sessions/{id} over ids the benchmark sampled from the table, picked at random
-- so the requests spread over the whole primary key instead of hitting one hot row.
local ids = {}
for line in io.lines(os.getenv("MEGAWEB_BENCH_IDS")) do ids[#ids + 1] = line end

request = function()
  return wrk.format("GET", "/api/sessions/" .. ids[math.random(#ids)])
end

done = dofile(os.getenv("MEGAWEB_BENCH_DIR") .. "/wrk-summary.lua")
