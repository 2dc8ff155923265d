// Times and durations as the `portcullis keys` CLI reads and prints them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::auth::api_key {

// RFC 3339 in UTC: "2027-01-31T00:00:00Z".
std::string format_time(std::int64_t unix_seconds);
// "2027-01-31T00:00:00Z", "2027-01-31T01:00:00+01:00", fractional seconds ignored, or a date
// alone ("2027-01-31", midnight UTC). nullopt when malformed.
std::optional<std::int64_t> parse_time(std::string_view text);
// "7d", "12h", "30m", "45s", "1d12h", "0". nullopt when malformed or negative.
std::optional<std::int64_t> parse_duration(std::string_view text);

}  // namespace portcullis::auth::api_key
