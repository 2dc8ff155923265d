// Pieces of text joined into one string: sized once, then built by appends. GCC 12 reports a
// false -Wrestrict (inside libstdc++, in Release builds) for some of the same strings built
// with operator+ on temporaries.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace portcullis {

inline std::string concat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view p : parts) size += p.size();
  std::string out;
  out.reserve(size);
  for (std::string_view p : parts) out.append(p);
  return out;
}

}  // namespace portcullis
