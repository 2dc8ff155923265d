-- wrk script: a different API key on every request, cycling through the full keys in the
-- file named by API_KEYS (one a line), so every request pays the key's checksum and HMAC
-- (a connection's memo of its last key never matches).
local keys = {}
for line in io.lines(os.getenv("API_KEYS")) do
  if #line > 0 then keys[#keys + 1] = line end
end
local i = 0
request = function()
  i = i % #keys + 1
  return wrk.format(nil, nil, { ["X-API-Key"] = keys[i] })
end
