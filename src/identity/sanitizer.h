// Sanitizer: removes every inbound header that could carry identity before anything reads
// the request. Names are compared case-insensitively with '_' treated as '-', so
// x_user_id, X-USER-ID and X-User-Id are all the same header to it. The request id is the
// exception: its own spelling (any case) is kept for the session to judge (request_id.h),
// while other spellings (X_Request_Id) are removed, so an upstream that reads '_' as '-'
// never sees a second, unchecked id.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "config/config.h"

namespace portcullis::identity {

// Lower case, '_' → '-'.
std::string canonical_header_name(std::string_view name);

class Sanitizer {
 public:
  Sanitizer() = default;
  // The configured identity headers, strip_inbound, and any `extra` names (e.g. headers
  // that mechanisms fill from claims).
  Sanitizer(const config::IdentityConfig& identity, const std::vector<std::string>& extra);

  // Returns how many header lines were removed.
  std::size_t sanitize(boost::beast::http::fields& headers) const;
  bool strips(std::string_view name) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> names_;  // canonical
  std::size_t max_len_ = 0;
  // Whether a name Beast knows (Host, Authorization, ...: a field whose name() is not
  // `unknown`) can be stripped: only when one of names_, or the request id's canonical form,
  // is such a name. Known names hold no '_' and Beast matches them ignoring case only, so a
  // known field's canonical form is its lower case: without such a name, known fields are
  // not looked up.
  bool strips_known_ = false;
  std::string request_id_;            // as configured
  std::string request_id_canonical_;  // canonical
};

}  // namespace portcullis::identity
