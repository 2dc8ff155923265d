// The readers of the config's sections, one file each (server_section.cc, upstreams_section.cc,
// identity_section.cc, api_keys_section.cc, oauth2_section.cc, jwt_section.cc,
// routes_section.cc, log_section.cc), all written with the one YamlReader. loader.cc calls
// them in dependency order: routes refer to upstreams and to the auth sections.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace portcullis::config {

// `server` and `admin`; `listen_at` is set to where `listen` is written, for check_listeners.
void load_server(YamlReader& r, const Entry& e, Config& config, Mark& listen_at);
void load_admin(YamlReader& r, const Entry& e, Config& config, Mark& listen_at);
// `server.tls` (config/listener_tls_section.cc): certificates, versions, client certificates.
void load_listener_tls(YamlReader& r, const Entry& e, ServerConfig& server);
// A server name as `server_names` takes it: a lower-case DNS name, or "*." and one.
bool is_server_name_pattern(std::string_view name);
// The top-level `client_cert` section. After identity: the thumbprint header must not be an
// identity header.
void load_client_cert(YamlReader& r, const Entry& e, Config& config);
// For the route check: nullopt when `client_cert` can be used (TLS on the listener asking for
// certificates, with a CA to verify them), else the message to report.
std::optional<std::string> client_cert_method_unavailable(const Config& config);
// After every section: require_cert_binding on a provider needs the listener to ask for
// client certificates.
void check_cert_binding(YamlReader& r, const Config& config);
// The header API keys are read from (the default too) against the headers stripped before
// authentication (config/api_keys_section.cc).
void check_api_key_header(YamlReader& r, const Config& config);
// A route whose own path identity.signed_context.jwks_route takes: a warning (the JWKS is
// answered before routing).
void check_jwks_route(YamlReader& r, const Config& config);
// Two listeners on one port fail at bind time; said at load instead, where the file is
// checked. Runs last, after every section.
void check_listeners(YamlReader& r, const Config& config, Mark server_listen_at,
                     Mark admin_listen_at);

// Fills config.upstreams with the upstreams that loaded cleanly; returns every name declared,
// including those with errors, so that routes naming them are not reported a second time.
std::set<std::string> load_upstreams(YamlReader& r, const Entry& e, Config& config);

// The TLS client keys (config/tls_section.cc), added to an upstream's or a provider's list of
// known keys: ca_file and tls_verify, and for upstreams server_name, client_cert_file and
// client_key_file. `present` collects where each key is written, for check_tls_client.
enum class TlsClientKeys { Upstream, Provider };
void add_tls_client_fields(YamlReader& r, TlsClientKeys which, TlsClientConfig& tls,
                           std::map<std::string, Mark>& present, std::vector<Field>& fields);
// After the map is walked. `uses_tls`: whether the owner speaks TLS (an https:// URL, or a
// discovery document that may name one); when it does not, every TLS key present is an
// error ("... needs <needs>"). Also: a client certificate without its key (or the reverse),
// and a warning for tls_verify: false.
void check_tls_client(YamlReader& r, const std::string& where, bool uses_tls,
                      std::string_view needs, const std::map<std::string, Mark>& present,
                      const TlsClientConfig& tls);

// A path as written in the config (a route's match, identity.signed_context.jwks_route):
// absolute, no query or fragment, valid in a URL, and able to match a request at all.
bool valid_config_path(YamlReader& r, const Entry& e, const std::string& p);

void load_identity(YamlReader& r, const Entry& e, Config& config);
// `identity.signed_context` (config/signed_context_section.cc); after identity.headers.
void load_signed_context(YamlReader& r, const Entry& e, IdentityConfig& identity);

// After identity: the key header must not be an identity header.
void load_api_keys(YamlReader& r, const Entry& e, Config& config);

// A provider with errors is still added (the load fails anyway) so that routes naming it are
// not reported a second time.
void load_oauth2_providers(YamlReader& r, const Entry& e, Config& config);
// For the route check: nullopt when `oauth2:NAME` names a configured provider, else the
// message to report.
std::optional<std::string> oauth2_method_unavailable(const Config& config,
                                                     const AuthMethod& method);

// Shapes only: algorithm names and key material are checked by the jwt mechanism
// (auth/jwt/config_check.h), at the marks kept in JwtProviderConfig. After identity: token
// and claim headers must not be identity headers. A provider with errors is still added.
void load_jwt_providers(YamlReader& r, const Entry& e, Config& config);

// Last of the sections that define things routes name.
void load_routes(YamlReader& r, const Entry& e, const std::set<std::string>& declared_upstreams,
                 Config& config);

void load_log(YamlReader& r, const Entry& e, Config& config);

// `rate_limits` (config/rate_limits_section.cc), before routes. Returns every name declared,
// including those with errors, so that routes naming them are not reported a second time.
std::set<std::string> load_rate_limits(YamlReader& r, const Entry& e, Config& config);
// `rate_limit_local` (null when absent: the defaults). After api_keys: the default state
// file lies beside the SQLite key store.
void load_rate_limit_local(YamlReader& r, const Entry* e, Config& config);
// After routes: each name a route lists is declared, listed once, and usable on the route
// (an identity-keyed or failed_auth limit needs authentication).
void check_route_rate_limits(YamlReader& r, const Config& config,
                             const std::set<std::string>& declared);
// `rate_limit_store` (config/rate_limit_store_section.cc): the shared store's Redis.
void load_rate_limit_store(YamlReader& r, const Entry& e, Config& config);

}  // namespace portcullis::config
