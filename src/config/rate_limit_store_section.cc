// `rate_limit_store`: the Redis URL (redis://[user@]host[:port][/db]), its password as a
// secret reference, the per-call timeout and what happens when Redis fails.
#include <boost/url/parse.hpp>

#include "config/sections.h"

namespace portcullis::config {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Empty when fine, else the problem (never naming a password).
std::string parse_redis_url(std::string_view text, RateLimitStoreConfig& s) {
  auto u = boost::urls::parse_uri(text);
  if (!u) return "expected redis://host:port/db";
  if (u->scheme() == "rediss") {
    return "rediss:// (Redis over TLS) is not supported yet: use redis:// on a trusted network";
  }
  if (u->scheme() != "redis") return "the scheme must be redis://";
  if (!u->has_authority() || u->host_address().empty()) return "expected redis://host:port/db";
  if (u->has_password()) {
    return "the password goes in rate_limit_store.password (${ENV_NAME} or file:/path), not in "
           "the URL";
  }
  if (u->has_query() || u->has_fragment()) return "a query or fragment is not allowed";
  if (u->has_port()) {
    if (!all_digits(u->port()) || u->port_number() == 0) {
      return "the port must be a number from 1 to 65535";
    }
    s.port = u->port_number();
  }
  std::string path = u->path();
  if (path.starts_with('/')) path.erase(0, 1);
  if (!path.empty()) {
    if (!all_digits(path)) return "the path is the database number (e.g. /0)";
    s.db = static_cast<unsigned>(std::stoul(path));
  }
  s.host = u->host_address();
  if (u->has_userinfo()) s.username = u->user();
  return {};
}

void read_url(YamlReader& r, const Entry& f, RateLimitStoreConfig& s) {
  std::string url;
  if (!r.read_nonempty_string(f, url)) return;
  if (std::string why = parse_redis_url(url, s); !why.empty()) {
    r.error(f.at, "invalid rate_limit_store.url '" + mask_store_url(url) + "': " + why);
    return;
  }
  s.url = url;
}

constexpr EnumName<StoreErrorMode> kErrorModes[] = {{StoreErrorMode::Local, "local"},
                                                    {StoreErrorMode::Allow, "allow"},
                                                    {StoreErrorMode::Deny, "deny"}};

}  // namespace

void load_rate_limit_store(YamlReader& r, const Entry& e, Config& config) {
  auto& s = config.rate_limit_store.emplace();
  s.mark = e.key_at;
  auto seen = r.walk_map(
      e.value, e.at, "rate_limit_store",
      {{"url", [&](const Entry& f) { read_url(r, f, s); }},
       {"password",
        [&](const Entry& f) {
          r.read_secret(f, {"rate_limit_store.password", "password", "rate_limit_store.password"},
                        s.password);
        }},
       r.uint_field("timeout_ms", s.timeout_ms, 1, 10000),
       r.enum_field("on_error", kErrorModes, s.on_error,
                    "rate_limit_store.on_error '{}' must be local, allow or deny")});
  if (e.value.IsMap() || e.value.IsNull()) r.require(seen, "url", e.at, "rate_limit_store");
}

}  // namespace portcullis::config
