// A secret value from the config (${ENV_NAME} or file:/path). It cannot be streamed or
// formatted: the only way to the bytes is reveal(), which is easy to grep for in review.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace portcullis::config {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  bool empty() const { return value_.empty(); }
  // The raw bytes, for the one place that needs them (HMAC key, client secret...).
  const std::string& reveal() const { return value_; }

  friend bool operator==(const Secret&, const Secret&) = default;
  // Printing a Secret prints a placeholder, never the value.
  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "[redacted]"; }

 private:
  std::string value_;
};

// Where a secret came from, for messages: "${NAME}" or "file:/path"; never the value.
struct SecretRef {
  enum class Kind { Env, File, Literal };
  Kind kind = Kind::Literal;
  std::string name;  // variable name or file path
};

// Parses "${NAME}" or "file:/path". Anything else is Literal.
SecretRef parse_secret_ref(std::string_view text);

// Resolves a reference. Returns false with `error` set when the variable is unset or empty,
// or the file cannot be read. A file's trailing newline is dropped. Relative file paths are
// resolved against base_dir.
bool resolve_secret(const SecretRef& ref, std::string_view literal, const std::string& base_dir,
                    Secret& out, std::string& error);

}  // namespace portcullis::config
