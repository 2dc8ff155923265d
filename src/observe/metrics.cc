#include "observe/metrics.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace portcullis::observe {

namespace {

constexpr std::array<double, 14> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// What render() adds up (plain numbers).
struct HistogramData {
  std::array<std::uint64_t, kBuckets.size()> counts{};
  std::uint64_t count = 0;
  double sum = 0;
};

// A shard's numbers are written by its own thread only and read by render() on another:
// relaxed atomics, so a write is a plain load and store (no lock, no read-modify-write).
template <class T>
void bump(std::atomic<T>& cell, T by) {
  cell.store(cell.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

struct HistogramCells {
  std::array<std::atomic<std::uint64_t>, kBuckets.size()> counts{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<double> sum{0};

  void observe(double seconds) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      if (seconds <= kBuckets[i]) bump<std::uint64_t>(counts[i], 1);
    }
    bump<std::uint64_t>(count, 1);
    bump(sum, seconds);
  }
  void add_to(HistogramData& h) const {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      h.counts[i] += counts[i].load(std::memory_order_relaxed);
    }
    h.count += count.load(std::memory_order_relaxed);
    h.sum += sum.load(std::memory_order_relaxed);
  }
};

struct StatusCount {
  explicit StatusCount(unsigned c) : code(c) {}
  const unsigned code;
  std::atomic<std::uint64_t> n{0};
};

struct RouteStats {
  std::deque<StatusCount> by_status;  // few distinct statuses; a deque never moves them
  HistogramCells duration;
};

// One per thread, written by that thread alone. Its maps grow only under `mu` (which render()
// holds while it reads them); a number already there is updated without the lock. The maps'
// nodes never move, so the cached pointers below stay valid.
struct Shard {
  std::mutex mu;
  std::unordered_map<std::string, RouteStats, Hash, std::equal_to<>> routes;
  std::unordered_map<std::string, std::atomic<double>, Hash, std::equal_to<>> counters;
  // The last few series add_series found: a request path adds the same ones again and again,
  // and comparing a key is cheaper than hashing it.
  struct Recent {
    std::string_view key;  // the map's own key
    std::atomic<double>* value = nullptr;
  };
  std::array<Recent, 4> recent{};
  std::size_t next_recent = 0;
  // The route record_request counted last (its key is the map's own).
  std::string_view last_route;
  RouteStats* last_route_stats = nullptr;
  // key: name + '\0' + rendered labels (without braces)
  std::unordered_map<std::string, HistogramCells, Hash, std::equal_to<>> histograms;

  // The map's entry for `key`, added (under the lock) when it is new.
  template <class Map>
  typename Map::iterator entry(Map& map, std::string_view key) {
    auto it = map.find(key);
    if (it != map.end()) return it;
    std::lock_guard lock(mu);
    return map.try_emplace(std::string(key)).first;
  }
};

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

void append_labels(std::string& out, Labels labels) {
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out += k;
    out += "=\"";
    append_escaped(out, v);
    out.push_back('"');
  }
}

std::string format_number(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && v < 1e15 && v > -1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

struct Family {
  std::string_view name;
  std::string_view help;
};
// Every family the gateway exposes, sorted by name (checked below).
constexpr Family kFamilies[] = {
    {"portcullis_api_key_store_errors_total", "Failed reads of the API key store."},
    {"portcullis_api_key_store_last_success_timestamp_seconds",
     "Unix time of the last successful read of the API key store."},
    {"portcullis_api_key_store_staleness_seconds",
     "Seconds since the API keys in memory last matched the key store (since start-up before "
     "the first load)."},
    {"portcullis_api_key_store_up", "1 when the last read of the API key store succeeded."},
    {"portcullis_api_key_usage_dropped_total",
     "Key uses whose last_used_at was not written (store unavailable, or too many pending)."},
    {"portcullis_api_keys_loaded", "API keys held in memory."},
    {"portcullis_auth_failures_total", "Requests refused by authentication or policy."},
    {"portcullis_bad_requests_total", "Requests refused as malformed, by reason."},
    {"portcullis_build_info", "Version, commit and build type of the running binary (always 1)."},
    {"portcullis_config_reloads_total", "Configuration reloads (SIGHUP), applied or rejected."},
    {"portcullis_connections_active", "Client connections open now."},
    {"portcullis_connections_refused_total",
     "Client connections closed at once because server.max_connections were open."},
    {"portcullis_introspection_breaker_open",
     "1 while the introspection circuit breaker of a provider is open."},
    {"portcullis_introspection_breaker_rejections_total",
     "Tokens refused without a call because the introspection breaker was open."},
    {"portcullis_introspection_cache_hits_total", "Introspection answers taken from the cache."},
    {"portcullis_introspection_cache_misses_total", "Tokens not found in the introspection cache."},
    {"portcullis_introspection_calls_total", "Calls to an introspection endpoint, by result."},
    {"portcullis_introspection_coalesced_total",
     "Introspections that waited for a call already in flight for the same token."},
    {"portcullis_introspection_latency_seconds", "Latency of introspection calls."},
    {"portcullis_jwks_age_seconds", "Seconds since a provider's key set was last fetched."},
    {"portcullis_jwks_fetches_total", "JWKS fetches, by result."},
    {"portcullis_jwks_keys", "Keys in a provider's key set."},
    {"portcullis_jwks_kid_misses_total", "Tokens whose kid was not in the key set."},
    {"portcullis_jwt_cache_hits_total", "Verified tokens taken from the JWT cache."},
    {"portcullis_jwt_cache_misses_total", "Tokens not found in the JWT cache."},
    {"portcullis_proxy_protocol_errors_total",
     "Connections closed without a valid PROXY protocol header (server.proxy_protocol), by "
     "reason."},
    {"portcullis_rate_limit_keys",
     "(limit, key) pairs the local rate-limit store tracks now (rate_limit_local.max_keys caps "
     "them)."},
    {"portcullis_rate_limit_keys_refused_total",
     "Requests refused with 429 (or failed authentications not counted) because the local "
     "rate-limit store was full."},
    {"portcullis_rate_limit_requests_total",
     "Requests judged by a rate limit, by limit name and result (admitted or limited)."},
    {"portcullis_rate_limit_store_fallbacks_total",
     "Rate-limited requests answered by rate_limit_store.on_error because Redis failed them."},
    {"portcullis_rate_limit_store_reservation_seconds",
     "Time a reservation of a slice of a window's budget in Redis took."},
    {"portcullis_rate_limit_store_reservations_total",
     "Reservations of a slice of a window's budget in Redis, by result (granted, spent, error)."},
    {"portcullis_rate_limit_store_up",
     "1 while the connection to the rate-limit store (Redis) is up and authenticated."},
    {"portcullis_redis_calls_total",
     "Commands sent to Redis, by result (ok, timeout, closed, unavailable)."},
    {"portcullis_redis_connections_total", "Connection attempts to Redis, by result."},
    {"portcullis_request_duration_seconds", "Time from a request's first byte to its end."},
    {"portcullis_requests_in_flight", "Requests being handled now."},
    {"portcullis_requests_total", "Requests handled, by route and status."},
    {"portcullis_shadow_refusals_total",
     "Requests a route in shadow mode (enforcement: shadow) forwarded although it would have "
     "refused them, by route and reason."},
    {"portcullis_tls_handshake_failures_total",
     "TLS handshakes on the listener that failed, by reason."},
    {"portcullis_tls_handshakes_total",
     "TLS handshakes completed on the listener, by version and whether the session resumed."},
    {"portcullis_upstream_errors_total", "Upstream failures, by upstream and kind."},
    {"process_cpu_seconds_total", "User and system CPU time spent, in seconds."},
    {"process_open_fds", "Open file descriptors."},
    {"process_resident_memory_bytes", "Resident memory size, in bytes."},
};

constexpr bool sorted_families() {
  for (std::size_t i = 1; i < std::size(kFamilies); ++i) {
    if (!(kFamilies[i - 1].name < kFamilies[i].name)) return false;
  }
  return true;
}
static_assert(sorted_families(), "kFamilies sorted by name, each once");

std::string_view family_of(std::string_view series) {
  auto brace = series.find('{');
  return brace == std::string_view::npos ? series : series.substr(0, brace);
}

// Counters and gauges: one "# TYPE" line per family, then each series with its value.
void render_plain(const std::map<std::string, double>& series, std::string_view type,
                  std::string& out) {
  std::string_view last_family;
  for (const auto& [k, v] : series) {
    auto family = family_of(k);
    if (family != last_family) {
      Metrics::append_family_header(out, family, type);
      last_family = family;
    }
    out += k;
    out.push_back(' ');
    out += format_number(v);
    out.push_back('\n');
  }
}

}  // namespace

struct Metrics::Impl {
  struct LiveGauge {
    std::weak_ptr<const void> owner;
    std::string key;
    std::function<std::optional<double>()> value;
  };

  std::mutex mu;  // guards shards, gauges, collectors, live gauges
  std::vector<std::shared_ptr<Shard>> shards;
  std::map<std::string, double> gauges;
  std::vector<std::function<void(std::string&)>> collectors;
  std::vector<LiveGauge> live_gauges;

  Shard& local() {
    thread_local std::shared_ptr<Shard> shard;
    thread_local Impl* owner = nullptr;
    if (!shard || owner != this) {
      shard = std::make_shared<Shard>();
      owner = this;
      std::lock_guard lock(mu);
      shards.push_back(shard);
    }
    return *shard;
  }
};

Metrics::Metrics() : impl_(new Impl) {}

Metrics& Metrics::global() {
  static Metrics* m = new Metrics;  // never destroyed: threads may count during exit
  return *m;
}

void Metrics::add(std::string_view name, Labels labels, double value) {
  thread_local std::string key;
  key.assign(name);
  if (labels.size() != 0) {
    key.push_back('{');
    append_labels(key, labels);
    key.push_back('}');
  }
  add_series(key, value);
}

std::string Metrics::series_key(std::string_view name, Labels labels) {
  std::string key(name);
  if (labels.size() != 0) {
    key.push_back('{');
    append_labels(key, labels);
    key.push_back('}');
  }
  return key;
}

void Metrics::add_series(std::string_view key, double value) {
  Shard& s = impl_->local();
  for (const auto& r : s.recent) {
    if (r.value != nullptr && r.key == key) {
      bump(*r.value, value);
      return;
    }
  }
  auto it = s.entry(s.counters, key);
  bump(it->second, value);
  s.recent[s.next_recent++ % s.recent.size()] = {it->first, &it->second};
}

void Metrics::observe(std::string_view name, Labels labels, double seconds) {
  thread_local std::string key;
  key.assign(name);
  key.push_back('\0');
  append_labels(key, labels);
  Shard& s = impl_->local();
  s.entry(s.histograms, key)->second.observe(seconds);
}

void Metrics::record_request(std::string_view route, unsigned status, double seconds) {
  Shard& s = impl_->local();
  if (s.last_route_stats == nullptr || s.last_route != route) {
    auto it = s.entry(s.routes, route);
    s.last_route = it->first;
    s.last_route_stats = &it->second;
  }
  RouteStats& r = *s.last_route_stats;
  StatusCount* found = nullptr;
  for (auto& c : r.by_status) {
    if (c.code == status) {
      found = &c;
      break;
    }
  }
  if (found == nullptr) {
    std::lock_guard lock(s.mu);
    found = &r.by_status.emplace_back(status);
  }
  bump<std::uint64_t>(found->n, 1);
  r.duration.observe(seconds);
}

void Metrics::set_gauge(std::string_view name, Labels labels, double value) {
  std::string key = series_key(name, labels);
  std::lock_guard lock(impl_->mu);
  impl_->gauges[key] = value;
}

void Metrics::add_collector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(impl_->mu);
  impl_->collectors.push_back(std::move(collector));
}

void Metrics::add_live_gauge(std::weak_ptr<const void> owner, std::string_view name, Labels labels,
                             std::function<std::optional<double>()> value) {
  std::string key = series_key(name, labels);
  std::lock_guard lock(impl_->mu);
  impl_->live_gauges.push_back({std::move(owner), std::move(key), std::move(value)});
}

void Metrics::reset() {
  std::lock_guard lock(impl_->mu);
  for (auto& s : impl_->shards) {
    std::lock_guard l2(s->mu);
    s->counters.clear();
    s->recent = {};
    s->last_route_stats = nullptr;
    s->histograms.clear();
    s->routes.clear();
  }
  impl_->gauges.clear();
  impl_->collectors.clear();
  impl_->live_gauges.clear();
}

std::string_view Metrics::help_of(std::string_view family) {
  const auto* end = std::end(kFamilies);
  const auto* it = std::lower_bound(std::begin(kFamilies), end, family,
                                    [](const Family& f, std::string_view n) { return f.name < n; });
  return it != end && it->name == family ? it->help : kUndocumented;
}

void Metrics::append_family_header(std::string& out, std::string_view family,
                                   std::string_view type) {
  out += "# HELP ";
  out += family;
  out.push_back(' ');
  out += help_of(family);
  out += "\n# TYPE ";
  out += family;
  out.push_back(' ');
  out += type;
  out.push_back('\n');
}

std::string Metrics::render() const {
  std::map<std::string, double> counters;
  std::map<std::string, HistogramData> histograms;
  std::string extra;
  std::map<std::string, double> gauges;
  // Owners of live gauges, held while their values are read and released after the lock.
  std::vector<std::shared_ptr<const void>> held;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& s : impl_->shards) {
      std::lock_guard l2(s->mu);
      for (const auto& [k, v] : s->counters) counters[k] += v.load(std::memory_order_relaxed);
      for (const auto& [route, r] : s->routes) {
        for (const auto& c : r.by_status) {
          std::string key(series::kRequests);
          key += "{";
          append_labels(key, {{"route", route}, {"status", std::to_string(c.code)}});
          key += "}";
          counters[key] += static_cast<double>(c.n.load(std::memory_order_relaxed));
        }
        std::string hkey(series::kDuration);
        hkey.push_back('\0');
        append_labels(hkey, {{"route", route}});
        r.duration.add_to(histograms[hkey]);
      }
      for (const auto& [k, h] : s->histograms) h.add_to(histograms[k]);
    }
    gauges = impl_->gauges;
    std::erase_if(impl_->live_gauges, [&](const Impl::LiveGauge& g) {
      auto owner = g.owner.lock();
      if (!owner) return true;
      if (auto v = g.value()) gauges[g.key] = *v;
      held.push_back(std::move(owner));
      return false;
    });
    for (const auto& c : impl_->collectors) c(extra);
  }
  std::string out;
  render_plain(counters, "counter", out);
  std::string_view last_family;
  for (const auto& [k, h] : histograms) {
    auto zero = k.find('\0');
    std::string_view name(k.data(), zero);
    std::string_view labels(k.data() + zero + 1, k.size() - zero - 1);
    if (name != last_family) {
      append_family_header(out, name, "histogram");
      last_family = name;
    }
    auto series = [&](std::string_view suffix, std::string_view le, const std::string& value) {
      out += name;
      out += suffix;
      if (!labels.empty() || !le.empty()) {
        out.push_back('{');
        out += labels;
        if (!le.empty()) {
          if (!labels.empty()) out.push_back(',');
          out += "le=\"";
          out += le;
          out += '"';
        }
        out.push_back('}');
      }
      out.push_back(' ');
      out += value;
      out.push_back('\n');
    };
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      series("_bucket", format_number(kBuckets[i]),
             format_number(static_cast<double>(h.counts[i])));
    }
    series("_bucket", "+Inf", format_number(static_cast<double>(h.count)));
    series("_sum", {}, format_number(h.sum));
    series("_count", {}, format_number(static_cast<double>(h.count)));
  }
  render_plain(gauges, "gauge", out);
  out += extra;
  return out;
}

}  // namespace portcullis::observe
