// A rate plan written as text: "1000/1m" (N requests per window; the window Ns, Nm, Nh or Nd,
// the grammar of rate_limits' `per:`). One parser for the three places a plan comes from: the
// keys CLI (--rate-limit), the key stores (the stored text) and a token's rate_limit_claim.
#pragma once

#include <boost/json/fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "identity/identity.h"

namespace portcullis::identity {

// Upper bounds: a budget beyond this is no limit at all, and keeps the limiter's arithmetic
// far from overflow; a window of at most 366 days.
inline constexpr std::uint64_t kMaxPlanRequests = 1'000'000'000'000;
inline constexpr std::uint32_t kMaxPlanWindowS = 366 * 86400;

// "1000/1m" -> {1000, 60}. Strict: digits, '/', digits, one unit letter; no spaces, signs or
// leading zeros; requests >= 1 and the window >= 1 s, both within the bounds above. None,
// with `why` set when given, otherwise.
std::optional<RatePlan> parse_rate_plan(std::string_view text, std::string* why = nullptr);

// A window alone: "1m" -> 60 (the `per` half of a plan).
std::optional<std::uint32_t> parse_plan_window(std::string_view text);

// The canonical text: the largest unit that divides the window ("1000/1m", "5/90s", "1/1d").
std::string to_string(const RatePlan& plan);

// A plan carried in a token claim: the string "1000/1m", or the object
// {"requests": 1000, "per": "1m"}. None for anything else (the caller ignores the claim).
std::optional<RatePlan> rate_plan_from_json(const boost::json::value& v);

}  // namespace portcullis::identity
