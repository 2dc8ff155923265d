// The TLS client keys an upstream or an identity provider may hold (config/tls_config.h):
// ca_file, tls_verify, and for upstreams server_name, client_cert_file and client_key_file.
// Files are read here, at load; their PEM contents are judged by tls/config_check.h.
#include <algorithm>
#include <cctype>

#include "config/read_file.h"
#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

// A DNS name (letters, digits, '-', '.', '_') or an IP literal, as a certificate names it.
bool is_server_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' ||
           c == ':';
  });
}

}  // namespace

void add_tls_client_fields(YamlReader& r, TlsClientKeys which, TlsClientConfig& tls,
                           std::map<std::string, Mark>& present, std::vector<Field>& fields) {
  auto field = [&](std::string_view key, std::function<void(const Entry&)> read) {
    fields.push_back({key, [&present, read = std::move(read)](const Entry& f) {
                        present[f.key] = f.key_at;
                        read(f);
                      }});
  };
  field("ca_file", [&r, &tls](const Entry& f) {
    if (r.read_named_file(f, kMaxCaFileBytes, tls.ca_file, tls.ca_pem)) tls.ca_mark = f.at;
  });
  field("tls_verify", [&r, &tls](const Entry& f) { r.read_bool(f, tls.verify); });
  if (which != TlsClientKeys::Upstream) return;
  field("server_name", [&r, &tls](const Entry& f) {
    std::string name;
    if (!r.read_nonempty_string(f, name, [](const std::string& v) {
          return is_server_name(v) ? std::string()
                                   : "'server_name' must be a DNS name or an IP address";
        })) {
      return;
    }
    tls.server_name = to_lower(name);
  });
  field("client_cert_file", [&r, &tls](const Entry& f) {
    if (r.read_named_file(f, kMaxKeyFileBytes, tls.cert_file, tls.cert_pem)) tls.cert_mark = f.at;
  });
  field("client_key_file", [&r, &tls](const Entry& f) {
    std::string content;
    if (r.read_named_file(f, kMaxKeyFileBytes, tls.key_file, content)) {
      tls.key_pem = Secret(std::move(content));
      tls.key_mark = f.at;
    }
  });
}

void check_tls_client(YamlReader& r, const std::string& where, bool uses_tls,
                      std::string_view needs, const std::map<std::string, Mark>& present,
                      const TlsClientConfig& tls) {
  if (!uses_tls) {
    for (const auto& [key, at] : present) {
      r.error(at, "'" + key + "' applies to TLS only: " + where + " needs " + std::string(needs));
    }
    return;
  }
  const bool cert = present.count("client_cert_file") > 0;
  const bool key = present.count("client_key_file") > 0;
  if (cert != key) {
    const char* has = cert ? "client_cert_file" : "client_key_file";
    const char* lacks = cert ? "client_key_file" : "client_cert_file";
    r.error(present.at(has), where + ": '" + has + "' needs '" + lacks + "' as well");
  }
  if (auto it = present.find("tls_verify"); it != present.end() && !tls.verify) {
    r.warning(it->second, "tls_verify: false: the certificate of " + where +
                              " is not verified, so anyone on the network path can read and "
                              "change this traffic");
    if (auto ca = present.find("ca_file"); ca != present.end()) {
      r.warning(ca->second, "ca_file is not used with tls_verify: false");
    }
  }
}

}  // namespace portcullis::config
