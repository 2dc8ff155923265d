// Items written one after another with a separator between them.
#pragma once

#include <string>
#include <string_view>

namespace portcullis {

// `append(out, item)` writes each item (by default the item itself).
template <class Range, class Append>
std::string join(const Range& items, std::string_view separator, Append append) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += separator;
    first = false;
    append(out, item);
  }
  return out;
}

template <class Range>
std::string join(const Range& items, std::string_view separator) {
  return join(items, separator, [](std::string& out, const auto& item) { out += item; });
}

}  // namespace portcullis
