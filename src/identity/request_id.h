// X-Request-Id: a client's value is kept when it is safe to log and forward
// (1..128 characters of [A-Za-z0-9._-]); otherwise the gateway makes one.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::identity {

bool is_acceptable_request_id(std::string_view id);
// 32 hex characters, unique per process (random per-thread prefix and a counter).
std::string generate_request_id();

}  // namespace portcullis::identity
