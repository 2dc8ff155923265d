-- wrk script: a different RS256 token on every request, cycling through the pre-minted
-- tokens in the file named by JWT_TOKENS (one a line), so no verified-token cache can help.
local tokens = {}
for line in io.lines(os.getenv("JWT_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
