// One header line as the head writers append it: "Name: value\r\n". Values are checked by
// whoever produced them (the parser, the forwarder's control-character check).
#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace portcullis {

// One growth of the string and two copies (four appends cost twice as much: each checks the
// capacity and terminates the string again); a request's head gets five to ten such lines.
inline void append_header_line(std::string& lines, std::string_view name, std::string_view value) {
  const std::size_t at = lines.size();
  lines.resize(at + name.size() + value.size() + 4);
  char* p = lines.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  p[0] = ':';
  p[1] = ' ';
  p += 2;
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  p += value.size();
  p[0] = '\r';
  p[1] = '\n';
}

}  // namespace portcullis
