-- wrk script of `benchmarks/serve_scale.py --client wrk`: the same load as its Python client, from C.
--
-- Each request goes to a random curriculum: odd requests propose, even ones observe (a random skill of the
-- 20, score 1, an id unique to the run, so a retried observation would be applied once). With affinity the
-- curricula are those of this server process only (index modulo the process count), as the Python client does.
-- wrk keeps no state per connection, so an observation is not tied to the proposal before it; any skill of the
-- space is a valid observation. Arguments (after `--`): n processes k tag affinity(0/1) seed token.
-- At the end it prints one line the benchmark parses: "MAGISTER requests=R duration_us=D errors=E".

local n, procs, k, tag, affinity, token
local count = 0

function init(args)
  n, procs, k = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  tag, affinity, token = args[4], args[5] == "1", args[7]
  math.randomseed(tonumber(args[6]))
end

local function learner()
  local i = math.random(0, n - 1)
  if affinity then
    i = math.min(n - 1, i - i % procs + k)
  end
  return string.format("l%07d", i)
end

function request()
  count = count + 1
  local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  local path = "/v1/curricula/" .. learner()
  if count % 2 == 1 then
    return wrk.format("POST", path .. "/propose", headers, "")
  end
  local body = string.format('{"task":"skill-%d","score":1.0,"id":"%s%d"}', math.random(0, 19), tag, count)
  return wrk.format("POST", path .. "/observe", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("MAGISTER requests=%d duration_us=%d errors=%d\n", summary.requests, summary.duration,
                         e.connect + e.read + e.write + e.status + e.timeout))
end
