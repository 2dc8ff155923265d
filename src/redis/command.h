// Redis commands as bytes on the wire: hiredis formats them (RESP arrays of bulk strings), so
// any byte is safe in an argument.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::redis {

// The command `args` (name first) as RESP bytes, appended to `out`.
void append_command(std::string& out, const std::vector<std::string>& args);

}  // namespace portcullis::redis
