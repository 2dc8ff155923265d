// The YAML reader every config section is written with: a map is walked against a list of
// known keys (unknown keys get a did-you-mean, duplicates and non-string keys are refused),
// and each value is read by a typed reader that reports its own error at the value's
// position and leaves the target untouched on failure.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/enum_names.h"
#include "config/diagnostics.h"
#include "config/mark.h"
#include "config/secret.h"

namespace portcullis::config {

Mark mark_of(const YAML::Mark& m);
inline Mark mark_of(const YAML::Node& n) {
  return mark_of(n.Mark());
}

// A map entry. `at` is where to report problems with the value: yaml-cpp gives an empty
// value the position of whatever follows it, so those are reported at the key.
struct Entry {
  std::string key;
  YAML::Node value;
  Mark at;
  Mark key_at;
};

// A known key of a map and what to do with its value.
struct Field {
  std::string_view key;
  std::function<void(const Entry&)> handle;
};

// How messages about a secret reference name it: "<name> must be a reference, ${ENV_NAME}
// or file:/path, not the <noun> itself" and "<context>: <why it cannot be resolved>".
struct SecretField {
  std::string_view name;
  std::string_view noun;
  std::string context;
};

class YamlReader {
 public:
  // Relative file paths in values resolve against `base_dir`.
  YamlReader(Diagnostics& out, std::string base_dir) : out_(out), base_dir_(std::move(base_dir)) {}

  void error(Mark at, std::string message) { out_.error(at, std::move(message)); }
  void warning(Mark at, std::string message) { out_.warning(at, std::move(message)); }
  std::size_t error_count() const { return out_.error_count(); }

  // Hands each known key of a map to its field; reports unknown (with a did-you-mean),
  // duplicate and non-string keys. A null node (`admin:` with nothing after it) counts as an
  // empty map. Returns the keys present.
  std::set<std::string> walk_map(const YAML::Node& node, Mark at, const std::string& where,
                                 const std::vector<Field>& fields);
  // A map whose keys are names chosen by the user (upstreams, providers): each entry goes
  // to `each` with its name. `shape` is the message when the value is not a map. Returns the
  // names handed to `each`.
  std::set<std::string> walk_named(
      const Entry& e, const std::string& shape,
      const std::function<void(const std::string& name, const Entry&)>& each);
  // Whether `node` is a map; when not, `shape` (what it must be) is reported at `at`.
  bool expect_map(const YAML::Node& node, Mark at, const std::string& shape);
  // Reports a missing required key; true when present.
  bool require(const std::set<std::string>& seen, std::string_view key, Mark at,
               const std::string& where);

  // ---- Typed values. Each reports its own error and returns false, leaving `out` as is.
  bool read_string(const Entry& e, std::string& out);
  // `check`, when given, may reject the string with a message (empty when it is fine).
  bool read_nonempty_string(const Entry& e, std::string& out,
                            const std::function<std::string(const std::string&)>& check = {});
  template <typename T>
  bool read_uint(const Entry& e, T& out, std::uint64_t min = 0,
                 std::uint64_t max = std::numeric_limits<T>::max()) {
    std::uint64_t value = 0;
    if (!read_uint64(e, value, min, max)) return false;
    out = static_cast<T>(value);
    return true;
  }
  // A field that reads a whole number in [min, max] into `target`.
  template <typename T>
  Field uint_field(std::string_view key, T& target, std::uint64_t min = 0,
                   std::uint64_t max = std::numeric_limits<T>::max()) {
    return {key, [this, &target, min, max](const Entry& f) { read_uint(f, target, min, max); }};
  }
  bool read_positive_double(const Entry& e, double& out);
  // Only true/false: YAML 1.1's yes/no/on/off are surprising in a security config.
  bool read_bool(const Entry& e, bool& out);
  // A list of non-empty strings; `check` may reject an item with a message.
  bool read_string_list(const Entry& e, std::vector<std::string>& out,
                        const std::function<std::string(const std::string&)>& check = {});
  // Same, with the position of each item (for checks made later, elsewhere).
  bool read_string_list(const Entry& e, std::vector<std::string>& out, std::vector<Mark>& at);
  bool read_header_name(const Entry& e, std::string& out);
  // One of the names of `table` (common/enum_names.h). Anything else is refused with
  // `message`, in which "{}" stands for the value read (empty: "'KEY' must be one of A, B,
  // not 'VALUE'"), and a did-you-mean when a name is close.
  template <class E, std::size_t N>
  bool read_enum(const Entry& e, const EnumName<E> (&table)[N], E& out,
                 std::string_view message = {}) {
    std::string text;
    if (!read_string(e, text)) return false;
    if (auto value = value_of(table, text)) {
      out = *value;
      return true;
    }
    std::string_view names[N];
    for (std::size_t i = 0; i < N; ++i) names[i] = table[i].name;
    refuse_name(e, text, names, message);
    return false;
  }
  // A field that reads one of the names of `table` into `target` (read_enum).
  template <class E, std::size_t N>
  Field enum_field(std::string_view key, const EnumName<E> (&table)[N], E& target,
                   std::string_view message = {}) {
    return {key, [this, &table, &target, message](const Entry& f) {
              read_enum(f, table, target, message);
            }};
  }
  // A secret reference, ${ENV_NAME} or file:PATH, resolved; a literal secret is refused.
  // The caller checks emptiness first (each section words that its own way).
  bool read_secret(const Entry& e, const std::string& text, const SecretField& names, Secret& out);
  // The same for a value that is only a secret reference: an empty one is refused with
  // "<name> must not be empty: use ${ENV_NAME} or file:/path".
  bool read_secret(const Entry& e, const SecretField& names, Secret& out);

  // The file a value names (resolved like resolve_path) into `path`, its bytes (at most
  // `cap`) into `content`. The message names the path only, never the content.
  bool read_named_file(const Entry& e, std::size_t cap, std::string& path, std::string& content);

  // An absolute, normalised path; relative ones resolve against the config's directory.
  std::string resolve_path(const std::string& path) const;
  const std::string& base_dir() const { return base_dir_; }

 private:
  bool read_uint64(const Entry& e, std::uint64_t& out, std::uint64_t min, std::uint64_t max);
  void refuse_name(const Entry& e, const std::string& text, std::span<const std::string_view> names,
                   std::string_view message);

  Diagnostics& out_;
  std::string base_dir_;
};

}  // namespace portcullis::config
