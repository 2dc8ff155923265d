// Secret references: "${NAME}" reads the environment, "file:PATH" reads a file. Error
// messages name where the secret should have come from, never its value.
#include "config/secret.h"

#include <cstdlib>
#include <filesystem>

#include "config/read_file.h"

namespace portcullis::config {
namespace {

// POSIX shell rules, so any name that can be exported can be referenced.
bool valid_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

SecretRef parse_secret_ref(std::string_view text) {
  SecretRef ref;
  if (text.starts_with("${")) {
    // Anything that looks like a variable reference is one, even when malformed, so that
    // a typo such as "${API-KEY" is reported by resolve_secret instead of silently
    // becoming a literal secret.
    ref.kind = SecretRef::Kind::Env;
    ref.name = text.size() >= 3 && text.ends_with('}')
                   ? std::string(text.substr(2, text.size() - 3))
                   : std::string(text);
  } else if (text.starts_with("file:")) {
    ref.kind = SecretRef::Kind::File;
    ref.name = std::string(text.substr(5));
  }
  return ref;
}

bool resolve_secret(const SecretRef& ref, std::string_view literal, const std::string& base_dir,
                    Secret& out, std::string& error) {
  switch (ref.kind) {
    case SecretRef::Kind::Literal:
      out = Secret(std::string(literal));
      return true;

    case SecretRef::Kind::Env: {
      if (!valid_env_name(ref.name)) {
        error = "invalid environment variable reference '" + ref.name +
                "' (expected ${NAME} with letters, digits and '_')";
        return false;
      }
      const char* value = std::getenv(ref.name.c_str());
      if (value == nullptr) {
        error = "environment variable '" + ref.name + "' is not set";
        return false;
      }
      if (*value == '\0') {
        // An empty key or password is never intended and would weaken whatever uses it.
        error = "environment variable '" + ref.name + "' is empty";
        return false;
      }
      out = Secret(value);
      return true;
    }

    case SecretRef::Kind::File: {
      if (ref.name.empty()) {
        error = "'file:' needs a path";
        return false;
      }
      std::filesystem::path path(ref.name);
      if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
      path = path.lexically_normal();
      std::string contents, why;
      if (!read_file(path.string(), contents, why, kMaxSecretFileBytes)) {
        error = "cannot read secret file '" + path.string() + "': " + why;
        return false;
      }
      // Editors and `echo` add one newline (CRLF on Windows); it is never part of the secret.
      if (contents.ends_with("\r\n")) {
        contents.resize(contents.size() - 2);
      } else if (contents.ends_with('\n')) {
        contents.pop_back();
      }
      if (contents.empty()) {
        error = "secret file '" + path.string() + "' is empty";
        return false;
      }
      out = Secret(std::move(contents));
      return true;
    }
  }
  error = "unknown secret reference kind";
  return false;
}

}  // namespace portcullis::config
