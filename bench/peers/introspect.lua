-- wrk script: RFC 7662 introspection calls straight to the IdP, as the gateway makes them
-- (POST form, client_secret_basic). TOKEN and BASIC come from the environment.
wrk.method = "POST"
wrk.body = "token=" .. os.getenv("TOKEN") .. "&token_type_hint=access_token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
