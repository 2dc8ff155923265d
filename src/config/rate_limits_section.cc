// `rate_limits`: NAME -> { requests, per, key, count, headers }, the limits routes list in
// their own `rate_limits`; `rate_limit_local`: the in-process store's cap and state file.
#include <charconv>
#include <filesystem>
#include <initializer_list>
#include <utility>

#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

constexpr std::uint32_t kMaxWindow = 366u * 86400u;

constexpr EnumName<RateLimitKey> kKeyNames[] = {{RateLimitKey::ClientId, "client_id"},
                                                {RateLimitKey::UserId, "user_id"},
                                                {RateLimitKey::Ip, "ip"},
                                                {RateLimitKey::Route, "route"}};
constexpr EnumName<RateLimitCount> kCountNames[] = {{RateLimitCount::Requests, "requests"},
                                                    {RateLimitCount::FailedAuth, "failed_auth"}};

void load_limit(YamlReader& r, const std::string& name, const Entry& e, Config& config) {
  const std::string where = "rate limit '" + name + "'";
  RateLimitConfig limit;
  limit.name = name;
  limit.mark = e.key_at;
  const std::size_t errors_before = r.error_count();
  if (!is_simple_name(name)) {
    r.error(e.key_at,
            "rate limit name '" + name + "' may only use letters, digits, '_', '-' and '.'");
  }
  using C = RateLimitCount;
  auto seen = r.walk_map(
      e.value, e.at, where,
      {r.uint_field("requests", limit.requests, 1),
       {"per",
        [&](const Entry& f) {
          std::string text;
          if (!r.read_nonempty_string(f, text)) return;
          limit.per_s = parse_window(text);
          if (limit.per_s == 0) {
            r.error(f.at,
                    "'per' must be a window such as 30s, 1m, 12h or 1d (at most 366d), not '" +
                        text + "'");
          }
        }},
       r.enum_field("key", kKeyNames, limit.key),
       r.enum_field("count", kCountNames, limit.count),
       {"headers", [&](const Entry& f) { r.read_bool(f, limit.headers); }}});
  if (e.value.IsMap()) {
    r.require(seen, "requests", e.at, where);
    r.require(seen, "per", e.at, where);
    r.require(seen, "key", e.at, where);
  }
  // A failed credential proves no identity: only the address or the route can be counted.
  if (limit.count == C::FailedAuth && !limit.before_auth() && seen.count("key")) {
    r.error(e.at, where + ": count: failed_auth needs key: ip or key: route (a request that " +
                      "failed authentication has no client_id or user_id)");
  }
  if (r.error_count() == errors_before) config.rate_limits[name] = std::move(limit);
}

// Where the state file goes when `rate_limit_local.state_file` is not written: beside the
// SQLite key store when there is one (the gateway's state folder), else beside the config.
std::string default_state_file(const YamlReader& r, const Config& config) {
  std::filesystem::path dir = r.base_dir();
  if (config.api_keys && config.api_keys->store_location.kind == KeyStoreKind::Sqlite &&
      !config.api_keys->store_path.empty()) {
    dir = std::filesystem::path(config.api_keys->store_path).parent_path();
  }
  return (dir / "ratelimit-state.db").lexically_normal().string();
}

// Each name a route lists: declared, listed once, and usable on the route.
void check_route_limits(YamlReader& r, const Config& config, const std::set<std::string>& declared,
                        const std::vector<std::string_view>& known, const RouteConfig& route) {
  for (std::size_t i = 0; i < route.rate_limits.size(); ++i) {
    const std::string& name = route.rate_limits[i];
    const Mark m = i < route.rate_limits_marks.size() ? route.rate_limits_marks[i] : route.mark;
    if (std::find(route.rate_limits.begin(), route.rate_limits.begin() + static_cast<long>(i),
                  name) != route.rate_limits.begin() + static_cast<long>(i)) {
      r.error(m, "rate limit '" + name + "' is listed twice");
      continue;
    }
    if (!declared.count(name)) {
      const auto near = closest_key(name, known);
      r.error(m,
              "rate limit '" + name + "' is not defined in rate_limits" +
                  (near.empty() ? std::string() : " (did you mean '" + std::string(near) + "'?)"));
      continue;
    }
    auto it = config.rate_limits.find(name);
    if (it == config.rate_limits.end()) continue;  // loaded with errors: reported there
    const RateLimitConfig& limit = it->second;
    if (route.auth_none && (!limit.before_auth() || limit.count == RateLimitCount::FailedAuth)) {
      r.error(m, "rate limit '" + name + "' (" +
                     (limit.count == RateLimitCount::FailedAuth
                          ? std::string("count: failed_auth")
                          : "key: " + std::string(key_name(limit.key))) +
                     ") needs an authenticated route, but the route has auth: none");
    }
  }
}

}  // namespace

std::uint32_t parse_window(std::string_view text) {
  if (text.size() < 2) return 0;
  std::uint64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return 0;
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || n == 0 ||
      digits.front() == '+' || n > kMaxWindow / unit) {
    return 0;
  }
  return static_cast<std::uint32_t>(n * unit);
}

std::string window_str(std::uint32_t s) {
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string_view key_name(RateLimitKey key) {
  return name_of(kKeyNames, key, {});
}

std::set<std::string> load_rate_limits(YamlReader& r, const Entry& e, Config& config) {
  return r.walk_named(
      e, "'rate_limits' must be a map of name -> { requests, per, key }",
      [&](const std::string& name, const Entry& f) { load_limit(r, name, f, config); });
}

void load_rate_limit_local(YamlReader& r, const Entry* e, Config& config) {
  RateLimitLocalConfig& local = config.rate_limit_local;
  if (e != nullptr) {
    local.mark = e->at;
    r.walk_map(e->value, e->at, "rate_limit_local",
               {r.uint_field("max_keys", local.max_keys, 1),
                r.uint_field("save_interval_s", local.save_interval_s, 1, 86400),
                {"persist_min",
                 [&](const Entry& f) {
                   std::string text;
                   if (!r.read_nonempty_string(f, text)) return;
                   const std::uint32_t s = parse_window(text);
                   if (s == 0) {
                     r.error(f.at,
                             "'persist_min' must be a window such as 1h or 1d, not '" + text + "'");
                     return;
                   }
                   local.persist_min_s = s;
                 }},
                {"state_file", [&](const Entry& f) {
                   std::string path;
                   if (!r.read_nonempty_string(f, path)) return;
                   local.state_file_set = true;
                   local.state_file_at = f.at;
                   local.state_file = path == "off" ? std::string() : r.resolve_path(path);
                 }}});
  }
  if (!local.state_file_set) local.state_file = default_state_file(r, config);
}

void check_route_rate_limits(YamlReader& r, const Config& config,
                             const std::set<std::string>& declared) {
  std::vector<std::string_view> known(declared.begin(), declared.end());
  for (const auto& route : config.routes) check_route_limits(r, config, declared, known, route);
}

}  // namespace portcullis::config
