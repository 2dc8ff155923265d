// One header line as the head writers append it: "Name: value\r\n". Values are checked by
// whoever produced them (the parser, the forwarder's control-character check).
#pragma once

#include <string>
#include <string_view>

namespace portcullis {

inline void append_header_line(std::string& lines, std::string_view name, std::string_view value) {
  lines.append(name);
  lines.append(": ", 2);
  lines.append(value);
  lines.append("\r\n", 2);
}

}  // namespace portcullis
