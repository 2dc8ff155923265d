#include "identity/rate_plan.h"

#include <boost/json/value.hpp>
#include <charconv>

namespace portcullis::identity {
namespace {

// Decimal digits without a leading zero, at most `max`.
bool read_count(std::string_view s, std::uint64_t max, std::uint64_t& out) {
  if (s.empty() || s.size() > 13 || s.front() == '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out <= max;
}

std::uint64_t unit_seconds(char unit) {
  switch (unit) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    default:
      return 0;
  }
}

std::optional<RatePlan> refuse(std::string* why, std::string message) {
  if (why != nullptr) *why = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<std::uint32_t> parse_plan_window(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  const std::uint64_t unit = unit_seconds(text.back());
  std::uint64_t n = 0;
  if (unit == 0 || !read_count(text.substr(0, text.size() - 1), kMaxPlanWindowS, n)) {
    return std::nullopt;
  }
  if (n * unit > kMaxPlanWindowS) return std::nullopt;
  return static_cast<std::uint32_t>(n * unit);
}

std::optional<RatePlan> parse_rate_plan(std::string_view text, std::string* why) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return refuse(why, "expected REQUESTS/WINDOW, e.g. 1000/1m (window Ns, Nm, Nh or Nd)");
  }
  RatePlan plan;
  if (!read_count(text.substr(0, slash), kMaxPlanRequests, plan.requests)) {
    return refuse(why, "the number of requests must be a whole number from 1 to " +
                           std::to_string(kMaxPlanRequests));
  }
  const auto window = parse_plan_window(text.substr(slash + 1));
  if (!window) {
    return refuse(why, "the window must be Ns, Nm, Nh or Nd (e.g. 1m), from 1s to 366d");
  }
  plan.per_s = *window;
  return plan;
}

std::string to_string(const RatePlan& plan) {
  std::uint32_t per = plan.per_s;
  char unit = 's';
  for (const auto& [letter, seconds] : {std::pair{'d', 86400u}, {'h', 3600u}, {'m', 60u}}) {
    if (per != 0 && per % seconds == 0) {
      per /= seconds;
      unit = letter;
      break;
    }
  }
  return std::to_string(plan.requests) + "/" + std::to_string(per) + unit;
}

std::optional<RatePlan> rate_plan_from_json(const boost::json::value& v) {
  if (v.is_string()) return parse_rate_plan(std::string_view(v.get_string()));
  if (!v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  const auto* requests = o.if_contains("requests");
  const auto* per = o.if_contains("per");
  if (o.size() != 2 || requests == nullptr || per == nullptr || !per->is_string()) {
    return std::nullopt;
  }
  RatePlan plan;
  if (requests->is_uint64()) {
    plan.requests = requests->get_uint64();
  } else if (requests->is_int64() && requests->get_int64() > 0) {
    plan.requests = static_cast<std::uint64_t>(requests->get_int64());
  } else {
    return std::nullopt;
  }
  if (plan.requests == 0 || plan.requests > kMaxPlanRequests) return std::nullopt;
  const auto window = parse_plan_window(std::string_view(per->get_string()));
  if (!window) return std::nullopt;
  plan.per_s = *window;
  return plan;
}

}  // namespace portcullis::identity
