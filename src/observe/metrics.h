// Metrics in Prometheus text format. Each thread counts into its own shard (no sharing on
// the request path); /metrics merges the shards. Label values are escaped; callers must never
// pass a secret as a label value (label values are route, upstream and reason names).
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace portcullis::observe {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Metrics {
 public:
  static Metrics& global();

  // Counter: adds `value` to the series name{labels}.
  void add(std::string_view name, Labels labels, double value = 1);
  // The same for a series whose key was made once by series_key() (hot paths: no label
  // formatting per call).
  void add_series(std::string_view series_key, double value = 1);
  static std::string series_key(std::string_view name, Labels labels);
  // Histogram of seconds with the default latency buckets.
  void observe(std::string_view name, Labels labels, double seconds);
  // The per-request pair (portcullis_requests_total{route,status} and
  // portcullis_request_duration_seconds{route}) in one lookup: the request path's hot call.
  void record_request(std::string_view route, unsigned status, double seconds);
  // Gauge: set from any thread; last write wins.
  void set_gauge(std::string_view name, Labels labels, double value);
  // Called at scrape time to append extra series (e.g. state owned by a component).
  void add_collector(std::function<void(std::string& out)> collector);
  // A gauge computed at scrape time for as long as `owner` lives (e.g. the age of a key set).
  // `value` is called only while the owner is held; nullopt leaves the series out. Forgotten
  // at the first scrape after the owner has gone.
  void add_live_gauge(std::weak_ptr<const void> owner, std::string_view name, Labels labels,
                      std::function<std::optional<double>()> value);

  // The whole exposition, with # HELP and # TYPE lines.
  std::string render() const;
  // "# HELP family ...\n# TYPE family type\n", the help text from the one table of
  // families in metrics.cc (collectors that render their own series use it too).
  static void append_family_header(std::string& out, std::string_view family,
                                   std::string_view type);
  // The help text of a family; kUndocumented for one missing from the table.
  static std::string_view help_of(std::string_view family);
  static constexpr std::string_view kUndocumented = "Undocumented metric.";

  // Forgets everything (tests: no other thread may count meanwhile, since counting takes no
  // lock).
  void reset();

  struct Impl;

 private:
  Metrics();
  Impl* impl_;
};

// Common series used by the request path.
namespace series {
inline constexpr std::string_view kRequests = "portcullis_requests_total";
inline constexpr std::string_view kDuration = "portcullis_request_duration_seconds";
inline constexpr std::string_view kUpstreamErrors = "portcullis_upstream_errors_total";
inline constexpr std::string_view kAuthFailures = "portcullis_auth_failures_total";
inline constexpr std::string_view kBadRequests = "portcullis_bad_requests_total";
inline constexpr std::string_view kShadowRefusals = "portcullis_shadow_refusals_total";
inline constexpr std::string_view kReloads = "portcullis_config_reloads_total";
inline constexpr std::string_view kConnections = "portcullis_connections_active";
inline constexpr std::string_view kConnectionsRefused = "portcullis_connections_refused_total";
inline constexpr std::string_view kProxyProtocolErrors = "portcullis_proxy_protocol_errors_total";
inline constexpr std::string_view kBuildInfo = "portcullis_build_info";
inline constexpr std::string_view kTlsHandshakes = "portcullis_tls_handshakes_total";
inline constexpr std::string_view kRateLimitKeysRefused =
    "portcullis_rate_limit_keys_refused_total";
inline constexpr std::string_view kTlsHandshakeFailures = "portcullis_tls_handshake_failures_total";
}  // namespace series

}  // namespace portcullis::observe
