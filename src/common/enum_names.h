// An enum's names written once, as a table of {value, name} rows, and read both ways: the
// name of a value (logs, messages, stored text) and the value of a name (config, stored
// text). A value missing from its table reads as the caller's fallback.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace portcullis {

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

template <class E, std::size_t N>
constexpr std::string_view name_of(const EnumName<E> (&table)[N], E value,
                                   std::string_view fallback) {
  for (const auto& row : table) {
    if (row.value == value) return row.name;
  }
  return fallback;
}

template <class E, std::size_t N>
constexpr std::optional<E> value_of(const EnumName<E> (&table)[N], std::string_view name) {
  for (const auto& row : table) {
    if (row.name == name) return row.value;
  }
  return std::nullopt;
}

}  // namespace portcullis
