-- wrk script: RFC 7662 introspection calls straight to the IdP, as the gateway makes them
-- (POST form, client_secret_basic), each with the next of the tokens in OAUTH2_TOKENS.
-- BASIC (base64 of id:secret) comes from the environment.
local tokens = {}
for line in io.lines(os.getenv("OAUTH2_TOKENS")) do tokens[#tokens + 1] = line end
local basic = "Basic " .. os.getenv("BASIC")
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = basic,
  }, "token=" .. tokens[i] .. "&token_type_hint=access_token")
end
