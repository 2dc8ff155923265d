// JSON for JOSE headers, JWT payloads and JWK sets: RFC 8259 through Boost.JSON's
// basic_parser, with two extra rules the default parser does not have: a member name may
// appear only once per object (RFC 7515 §5.2: a JOSE header with duplicate names must be
// rejected, or "alg" could mean one thing to us and another to the issuer), and nesting and
// member counts are limited. Duplicate detection is linear in the number of members (a JWK
// set of 1 MiB is parsed in milliseconds whatever its shape).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace portcullis::jose {

enum class JsonError {
  None,
  Syntax,           // not JSON, invalid UTF-8, trailing bytes, too deep
  DuplicateMember,  // the same member name twice in one object
  NotAnObject,      // valid JSON, but the top level is not an object
  TooManyMembers,   // more than kMaxObjectMembers in one object or kMaxTotalMembers in all
};

// Far above any JOSE header, JWT payload or JWK (a JWK set holds at most 1000 keys of a
// dozen members each), far below what 1 MiB of JSON can hold (~90,000 members).
inline constexpr std::size_t kMaxObjectMembers = 1024;
inline constexpr std::size_t kMaxTotalMembers = 32768;

// Parses `text` into `out` (top level must be an object). The result is allocated from `sp`
// (e.g. a monotonic buffer that lives as long as `out`).
JsonError parse_strict_object(std::string_view text, boost::json::object& out,
                              std::size_t max_depth = 32, boost::json::storage_ptr sp = {});
// Same for any top-level value.
JsonError parse_strict(std::string_view text, boost::json::value& out, std::size_t max_depth = 32,
                       boost::json::storage_ptr sp = {});

}  // namespace portcullis::jose
