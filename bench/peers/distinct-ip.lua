-- wrk script (bench/rate_limit_keys.sh): every request claims another client address through
-- X-Forwarded-For (10.0.0.0, 10.0.0.1, ... up to 16,777,216 of them), and the thread stops
-- once COUNT responses have come back.
local count = tonumber(os.getenv("COUNT") or "1000000")
local sent, answered = 0, 0
request = function()
  local i = sent
  sent = sent + 1
  local addr = string.format("10.%d.%d.%d", math.floor(i / 65536) % 256,
                             math.floor(i / 256) % 256, i % 256)
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = addr })
end
response = function(status)
  answered = answered + 1
  if answered >= count then wrk.thread:stop() end
end
