// Store URLs: parsed with Boost.URL; masked exactly where Boost.URL finds the password, and
// generously where it cannot parse the text (so that even a refused URL is echoed without its
// password).
#include "config/key_store_url.h"

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <filesystem>

#include "config/syntax.h"

namespace portcullis::config {
namespace {

constexpr std::string_view kMask = "***";

constexpr const char* kForms =
    "expected sqlite:///absolute/path.db, sqlite:relative/path.db or "
    "postgresql://user@host:5432/database";

// libpq keywords a URL's query may set. Not password/sslpassword: the password goes in the
// user part or in api_keys.password, where it is masked and kept as a secret.
constexpr std::array<std::string_view, 25> kQueryKeywords = {"application_name",
                                                             "channel_binding",
                                                             "connect_timeout",
                                                             "gssencmode",
                                                             "host",
                                                             "hostaddr",
                                                             "keepalives",
                                                             "keepalives_count",
                                                             "keepalives_idle",
                                                             "keepalives_interval",
                                                             "options",
                                                             "passfile",
                                                             "port",
                                                             "sslcert",
                                                             "sslcompression",
                                                             "sslcrl",
                                                             "sslcrldir",
                                                             "sslkey",
                                                             "sslmode",
                                                             "sslrootcert",
                                                             "sslsni",
                                                             "ssl_max_protocol_version",
                                                             "ssl_min_protocol_version",
                                                             "target_session_attrs",
                                                             "tcp_user_timeout"};
// Keywords naming files: relative paths resolve against the config's directory.
constexpr std::array<std::string_view, 6> kFileKeywords = {"passfile",  "sslcert", "sslcrl",
                                                           "sslcrldir", "sslkey",  "sslrootcert"};
constexpr std::array<std::string_view, 6> kSslModes = {"disable", "allow",     "prefer",
                                                       "require", "verify-ca", "verify-full"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// libpq takes C strings: a NUL would cut a value short, a control character has no place.
bool plain_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded, lower-cased: how a query parameter's name is compared when masking.
std::string loose_name(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return to_lower(out);
}

// Query parameters named *password, however their names are encoded: values become ***.
void mask_query_passwords(std::string& out) {
  std::size_t q = out.find('?');
  while (q != std::string::npos && q + 1 < out.size()) {
    const std::size_t begin = q + 1;
    std::size_t end = out.find_first_of("&#", begin);
    if (end == std::string::npos) end = out.size();
    const std::size_t eq = out.find('=', begin);
    if (eq != std::string::npos && eq < end &&
        loose_name(std::string_view(out).substr(begin, eq - begin)).ends_with("password")) {
      out.replace(eq + 1, end - eq - 1, kMask);
      end = eq + 1 + kMask.size();
    }
    q = end < out.size() && out[end] == '&' ? end : std::string::npos;
  }
}

bool parse_sqlite(const boost::urls::url_view& u, const std::string& base_dir,
                  KeyStoreLocation& out, std::string& error) {
  if (u.has_query() || u.has_fragment()) {
    error = "a query or fragment is not allowed";
    return false;
  }
  std::string path = u.path();  // percent-decoded
  if (u.has_authority() && !u.encoded_authority().empty()) {
    // sqlite://keys.db, as many tools write it: a relative file name, not a host. With a path
    // after it (sqlite://host/keys.db), a user or a port, it names a host: refused.
    if (!path.empty() || u.has_userinfo() || u.has_port()) {
      error = "a sqlite store is a file, not a host: " + std::string(kForms);
      return false;
    }
    path = u.host();
  }
  if (path.empty() || path == "/") {
    error = "a file path is required: " + std::string(kForms);
    return false;
  }
  if (path.find('\0') != std::string::npos) {
    error = "the path contains NUL";
    return false;
  }
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  out.kind = KeyStoreKind::Sqlite;
  out.path = p.lexically_normal().string();
  return true;
}

// The URL's host, port, database and user as libpq keywords.
bool postgres_authority(const boost::urls::url_view& u, KeyStoreLocation& out, std::string& error) {
  if (!u.has_authority()) {
    error = "expected postgresql://user@host:port/database";
    return false;
  }
  auto& params = out.params;
  if (std::string host = u.host_address(); !host.empty()) params.emplace_back("host", host);
  if (u.has_port()) {
    if (!digits(u.port()) || u.port_number() == 0) {
      error = "the port must be a number from 1 to 65535";
      return false;
    }
    params.emplace_back("port", std::string(u.port()));
  }
  std::string path = u.path();
  if (path.starts_with('/')) path.erase(0, 1);
  if (path.find('/') != std::string::npos) {
    error = "the path is the database name, one segment";
    return false;
  }
  if (!path.empty()) params.emplace_back("dbname", path);
  if (u.has_userinfo()) {
    if (std::string user = u.user(); !user.empty()) params.emplace_back("user", user);
    if (u.has_password()) out.password = Secret(u.password());
  }
  return true;
}

bool postgres_query(const boost::urls::url_view& u, const std::string& base_dir,
                    KeyStoreLocation& out, std::string& error) {
  boost::urls::encoding_opts opts;
  opts.space_as_plus = false;  // libpq reads '+' as itself
  std::vector<std::string> seen;
  for (auto p : u.encoded_params()) {
    std::string key = p.key.decode(opts);
    std::string value = p.has_value ? p.value.decode(opts) : std::string();
    if (key.ends_with("password")) {
      error = "the password goes in the user part (user:PASSWORD@host) or in api_keys.password";
      return false;
    }
    if (!one_of(kQueryKeywords, key)) {
      error = "unknown connection parameter '" + key +
              "' (e.g. sslmode, sslrootcert, connect_timeout, application_name)";
      return false;
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      error = "the parameter '" + key + "' is given twice";
      return false;
    }
    seen.push_back(key);
    if (value.empty()) {
      error = "the parameter '" + key + "' needs a value";
      return false;
    }
    if (key == "sslmode" && !one_of(kSslModes, value)) {
      error = "sslmode must be disable, allow, prefer, require, verify-ca or verify-full";
      return false;
    }
    if ((key == "connect_timeout" || key == "port") && !digits(value)) {
      error = "'" + key + "' must be a number";
      return false;
    }
    if (one_of(kFileKeywords, key) && std::filesystem::path(value).is_relative()) {
      value = (std::filesystem::path(base_dir) / value).lexically_normal().string();
    }
    // A keyword given in the query replaces the one the URL's parts gave.
    std::erase_if(out.params, [&](const auto& kv) { return kv.first == key; });
    out.params.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

bool parse_postgres(const boost::urls::url_view& u, const std::string& base_dir,
                    KeyStoreLocation& out, std::string& error) {
  if (u.has_fragment()) {
    error = "a fragment is not allowed";
    return false;
  }
  out.kind = KeyStoreKind::Postgres;
  if (!postgres_authority(u, out, error) || !postgres_query(u, base_dir, out, error)) return false;
  for (const auto& [k, v] : out.params) {
    if (!plain_value(v)) {
      error = "the parameter '" + k + "' contains a control character";
      return false;
    }
  }
  if (!plain_value(out.password.reveal())) {
    error = "the password contains a control character";
    return false;
  }
  return true;
}

}  // namespace

bool parse_key_store_url(std::string_view url, const std::string& base_dir, KeyStoreLocation& out,
                         std::string& error) {
  out = KeyStoreLocation();
  auto parsed = boost::urls::parse_uri(url);
  bool ok = false;
  if (!parsed) {
    error = kForms;
  } else if (const std::string scheme = to_lower(parsed->scheme()); scheme == "sqlite") {
    ok = parse_sqlite(*parsed, base_dir, out, error);
  } else if (scheme == "postgresql" || scheme == "postgres") {
    ok = parse_postgres(*parsed, base_dir, out, error);
  } else {
    error = "unsupported key store '" + mask_store_url(scheme) +
            "' (sqlite and postgresql are supported); " + kForms;
  }
  if (!ok) {
    // postgresql://gw:Top@Secret@db/keys: an '@' of the password ends it, and the rest reads
    // as something else. Say how it is written rather than what it was read as.
    if (std::count(url.begin(), url.end(), '@') > 1) {
      error += " (an '@' in a user name or password is written %40)";
    }
    out = KeyStoreLocation();
    return false;
  }
  out.display = mask_store_url(url);
  return true;
}

std::string mask_store_url(std::string_view url) {
  std::string out(url);
  const auto parsed = boost::urls::parse_uri(url);
  bool exact = parsed && parsed->has_authority();
  if (exact) {
    // An '@' after the authority: the text may not be what its writer meant (a password
    // holding '/', '?' or '#'). Mask generously.
    const auto authority = parsed->encoded_authority();
    const auto end = static_cast<std::size_t>(authority.data() - url.data()) + authority.size();
    const std::size_t last_at = out.rfind('@');
    exact = last_at == std::string::npos || last_at < end;
  }
  if (exact) {
    // A URL with an authority: exactly its password, where it is.
    if (parsed->has_password()) {
      const auto pw = parsed->encoded_password();
      out.replace(static_cast<std::size_t>(pw.data() - url.data()), pw.size(), kMask);
    }
  } else {
    // Anything else may hide "user:password@" anywhere: from the first ':' to the last '@'
    // (a password may hold '/', '?' or '#' that a parser would stop at). More is masked
    // rather than less.
    const std::size_t at = out.rfind('@');
    const std::size_t colon = out.find(':');
    if (at != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, kMask);
  }
  mask_query_passwords(out);
  return out;
}

std::string check_schema_name(std::string_view name) {
  const bool shape = !name.empty() && name.size() <= 40 && !(name[0] >= '0' && name[0] <= '9') &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                     });
  if (!shape) return "must be 1-40 lower-case letters, digits and '_', not starting with a digit";
  if (name.starts_with("pg_")) return "must not start with pg_ (reserved by PostgreSQL)";
  return {};
}

}  // namespace portcullis::config
