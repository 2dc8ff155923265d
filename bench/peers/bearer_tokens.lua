-- wrk script: GET with `Authorization: Bearer <token>`, each request with the next of the
-- tokens in OAUTH2_TOKENS (so that concurrent requests do not share one introspection).
local tokens = {}
for line in io.lines(os.getenv("OAUTH2_TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
