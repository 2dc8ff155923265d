// The YAML reader shared by every config section (see yaml_reader.h).
#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "common/join.h"
#include "config/read_file.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

Entry entry_of(const YAML::Node& key, const YAML::Node& value) {
  return {key.IsScalar() ? key.Scalar() : std::string(), value,
          mark_of(value.IsNull() ? key.Mark() : value.Mark()), mark_of(key.Mark())};
}

}  // namespace

Mark mark_of(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

std::set<std::string> YamlReader::walk_map(const YAML::Node& node, Mark at,
                                           const std::string& where,
                                           const std::vector<Field>& fields) {
  std::set<std::string> seen;
  if (node.IsNull()) return seen;
  if (!node.IsMap()) {
    error(at, where + " must be a map");
    return seen;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    // A copy: it->first is a proxy that dies with the statement.
    const YAML::Node key = it->first;
    Mark key_at = mark_of(key.Mark());
    if (!key.IsScalar()) {
      error(key_at, "keys must be plain strings in " + where);
      continue;
    }
    const std::string& name = key.Scalar();
    auto field =
        std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == name; });
    if (field == fields.end()) {
      std::string message = "unknown key '" + name + "' in " + where;
      std::vector<std::string_view> known;
      for (const auto& f : fields) known.push_back(f.key);
      // Likely typos ("lisen" -> "listen").
      if (auto best = closest_key(name, known); !best.empty()) {
        message += " (did you mean '" + std::string(best) + "'?)";
      }
      error(key_at, message);
      continue;
    }
    if (!seen.insert(name).second) {
      error(key_at, "duplicate key '" + name + "' in " + where);
      continue;
    }
    field->handle(entry_of(key, it->second));
  }
  return seen;
}

std::set<std::string> YamlReader::walk_named(
    const Entry& e, const std::string& shape,
    const std::function<void(const std::string& name, const Entry&)>& each) {
  if (e.value.IsNull()) return {};
  if (!expect_map(e.value, e.at, shape)) return {};
  // Every key is a name, so the field list is built from the map itself.
  std::vector<std::string> names;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    if (it->first.IsScalar()) names.push_back(it->first.Scalar());
  }
  std::vector<Field> fields;
  for (const auto& name : names) {
    fields.push_back({name, [&each, &name](const Entry& f) { each(name, f); }});
  }
  return walk_map(e.value, e.at, e.key, fields);
}

bool YamlReader::expect_map(const YAML::Node& node, Mark at, const std::string& shape) {
  if (node.IsMap()) return true;
  error(at, shape);
  return false;
}

bool YamlReader::require(const std::set<std::string>& seen, std::string_view key, Mark at,
                         const std::string& where) {
  if (seen.count(std::string(key))) return true;
  error(at, "missing required key '" + std::string(key) + "' in " + where);
  return false;
}

bool YamlReader::read_string(const Entry& e, std::string& out) {
  if (!e.value.IsScalar()) {
    error(e.at, "'" + e.key + "' must be a string");
    return false;
  }
  out = e.value.Scalar();
  return true;
}

bool YamlReader::read_nonempty_string(const Entry& e, std::string& out,
                                      const std::function<std::string(const std::string&)>& check) {
  std::string s;
  if (!read_string(e, s)) return false;
  if (s.empty()) {
    error(e.at, "'" + e.key + "' must not be empty");
    return false;
  }
  if (check) {
    if (std::string problem = check(s); !problem.empty()) {
      error(e.at, std::move(problem));
      return false;
    }
  }
  out = std::move(s);
  return true;
}

bool YamlReader::read_uint64(const Entry& e, std::uint64_t& out, std::uint64_t min,
                             std::uint64_t max) {
  std::uint64_t value = 0;
  const std::string& s = e.value.IsScalar() ? e.value.Scalar() : std::string();
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (!e.value.IsScalar() || s.empty() || ec == std::errc::invalid_argument ||
      ptr != s.data() + s.size()) {
    error(e.at, "'" + e.key + "' must be a whole number >= " + std::to_string(min));
    return false;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    error(e.at,
          "'" + e.key + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  out = value;
  return true;
}

bool YamlReader::read_positive_double(const Entry& e, double& out) {
  double value = 0;
  const std::string& s = e.value.IsScalar() ? e.value.Scalar() : std::string();
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (!e.value.IsScalar() || s.empty() || ec != std::errc() || ptr != s.data() + s.size() ||
      !std::isfinite(value) || value <= 0) {
    error(e.at, "'" + e.key + "' must be a number of seconds greater than 0");
    return false;
  }
  out = value;
  return true;
}

bool YamlReader::read_bool(const Entry& e, bool& out) {
  std::string s = e.value.IsScalar() ? to_lower(e.value.Scalar()) : std::string();
  if (s != "true" && s != "false") {
    error(e.at, "'" + e.key + "' must be true or false");
    return false;
  }
  out = s == "true";
  return true;
}

bool YamlReader::read_string_list(const Entry& e, std::vector<std::string>& out,
                                  const std::function<std::string(const std::string&)>& check) {
  if (!e.value.IsSequence()) {
    error(e.at, "'" + e.key + "' must be a list, e.g. [a, b]");
    return false;
  }
  std::vector<std::string> items;
  bool ok = true;
  for (const auto& item : e.value) {
    Mark at = mark_of(item.Mark());
    if (!item.IsScalar() || item.Scalar().empty()) {
      // `[jwt: x]` is a map to YAML; the usual cause is a space after a colon.
      error(at, "items of '" + e.key + "' must be non-empty strings");
      ok = false;
      continue;
    }
    if (check) {
      std::string problem = check(item.Scalar());
      if (!problem.empty()) {
        error(at, problem);
        ok = false;
        continue;
      }
    }
    items.push_back(item.Scalar());
  }
  if (ok) out = std::move(items);
  return ok;
}

bool YamlReader::read_string_list(const Entry& e, std::vector<std::string>& out,
                                  std::vector<Mark>& at) {
  std::vector<std::string> items;
  if (!read_string_list(e, items)) return false;
  out = std::move(items);
  at.clear();
  for (const auto& item : e.value) at.push_back(mark_of(item.Mark()));
  return true;
}

bool YamlReader::read_header_name(const Entry& e, std::string& out) {
  std::string s;
  if (!read_string(e, s)) return false;
  if (!is_token(s)) {
    error(e.at, "'" + s + "' is not a valid HTTP header name");
    return false;
  }
  out = std::move(s);
  return true;
}

bool YamlReader::read_named_file(const Entry& e, std::size_t cap, std::string& path,
                                 std::string& content) {
  std::string written, why;
  if (!read_nonempty_string(e, written)) return false;
  path = resolve_path(written);
  if (!read_file(path, content, why, cap)) {
    error(e.at, e.key + " " + path + ": cannot read: " + why);
    return false;
  }
  return true;
}

void YamlReader::refuse_name(const Entry& e, const std::string& text,
                             std::span<const std::string_view> names, std::string_view message) {
  std::string out;
  if (message.empty()) {
    out = "'" + e.key + "' must be one of " + join(names, ", ") + ", not '" + text + "'";
  } else if (auto at = message.find("{}"); at != std::string_view::npos) {
    out = std::string(message.substr(0, at)) + text + std::string(message.substr(at + 2));
  } else {
    out = message;
  }
  if (auto near = closest_key(text, names); !near.empty()) {
    out += " (did you mean '" + std::string(near) + "'?)";
  }
  error(e.at, std::move(out));
}

bool YamlReader::read_secret(const Entry& e, const SecretField& names, Secret& out) {
  std::string text;
  if (!read_string(e, text)) return false;
  if (text.empty()) {
    error(e.at, std::string(names.name) + " must not be empty: use ${ENV_NAME} or file:/path");
    return false;
  }
  return read_secret(e, text, names, out);
}

bool YamlReader::read_secret(const Entry& e, const std::string& text, const SecretField& names,
                             Secret& out) {
  SecretRef ref = parse_secret_ref(text);
  if (ref.kind == SecretRef::Kind::Literal) {
    error(e.at, std::string(names.name) + " must be a reference, ${ENV_NAME} or file:/path, " +
                    "not the " + std::string(names.noun) + " itself");
    return false;
  }
  std::string why;
  if (!resolve_secret(ref, text, base_dir_, out, why)) {
    error(e.at, names.context + ": " + why);
    return false;
  }
  return true;
}

std::string YamlReader::resolve_path(const std::string& path) const {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
  return p.lexically_normal().string();
}

}  // namespace portcullis::config
