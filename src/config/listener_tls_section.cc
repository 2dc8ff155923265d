// `server.tls` (certificates, min_version, client_ca_file, client_cert, session_timeout_s)
// and the top-level `client_cert` section (client_id_from, thumbprint_header). Files are read
// here, at load; their PEM contents are judged with OpenSSL by tls/listener_check.h.
#include <algorithm>
#include <map>

#include "config/read_file.h"
#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

constexpr EnumName<TlsVersion> kTlsVersions[] = {{TlsVersion::Tls12, "1.2"},
                                                 {TlsVersion::Tls13, "1.3"}};
constexpr EnumName<ClientCertMode> kClientCertModes[] = {{ClientCertMode::Off, "off"},
                                                         {ClientCertMode::Optional, "optional"},
                                                         {ClientCertMode::Required, "required"}};
constexpr EnumName<CertIdentitySource> kIdentitySources[] = {
    {CertIdentitySource::SanUri, "san_uri"},
    {CertIdentitySource::SanDns, "san_dns"},
    {CertIdentitySource::SubjectCn, "subject_cn"}};

bool is_dns_label(std::string_view l) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
  return std::all_of(l.begin(), l.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

}  // namespace

bool is_server_name_pattern(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  while (true) {
    const std::size_t dot = name.find('.');
    if (!is_dns_label(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

namespace {

void load_certificate(YamlReader& r, const YAML::Node& node, std::size_t index,
                      std::map<std::string, Mark>& names_at, ListenerTlsConfig& tls) {
  const std::string where = "server.tls.certificates[" + std::to_string(index) + "]";
  ServerCertificate c;
  c.mark = mark_of(node);
  auto seen = r.walk_map(
      node, c.mark, where,
      {{"cert_file",
        [&](const Entry& f) {
          if (r.read_named_file(f, kMaxKeyFileBytes, c.cert_file, c.cert_pem)) c.cert_mark = f.at;
        }},
       {"key_file",
        [&](const Entry& f) {
          std::string content;
          if (!r.read_named_file(f, kMaxKeyFileBytes, c.key_file, content)) return;
          c.key_pem = Secret(std::move(content));
          c.key_mark = f.at;
        }},
       {"server_names", [&](const Entry& f) {
          std::vector<std::string> names;
          std::vector<Mark> at;
          if (!r.read_string_list(f, names, at)) return;
          for (std::size_t i = 0; i < names.size(); ++i) {
            const std::string name = to_lower(names[i]);
            if (!is_server_name_pattern(name)) {
              r.error(at[i], "server name '" + names[i] +
                                 "' must be a DNS name, or '*.' and a DNS name (one label)");
              continue;
            }
            auto [it, fresh] = names_at.emplace(name, at[i]);
            if (!fresh) {
              r.error(at[i], "server name '" + name + "' is already served by another " +
                                 "certificate (line " + std::to_string(it->second.line) + ")");
              continue;
            }
            c.server_names.push_back(name);
            c.server_name_marks.push_back(at[i]);
          }
        }}});
  if (!node.IsMap()) return;
  r.require(seen, "cert_file", c.mark, where);
  r.require(seen, "key_file", c.mark, where);
  tls.certificates.push_back(std::move(c));
}

void load_certificates(YamlReader& r, const Entry& e, ListenerTlsConfig& tls) {
  if (!e.value.IsSequence() || e.value.size() == 0) {
    r.error(e.at, "'certificates' must be a non-empty list of { cert_file, key_file }");
    return;
  }
  std::map<std::string, Mark> names_at;
  std::size_t index = 0;
  for (const auto& item : e.value) {
    if (!item.IsMap()) {
      r.error(mark_of(item), "server.tls.certificates[" + std::to_string(index) +
                                 "] must be a map { cert_file, key_file, server_names }");
    } else {
      load_certificate(r, item, index, names_at, tls);
    }
    ++index;
  }
}

}  // namespace

void load_listener_tls(YamlReader& r, const Entry& e, ServerConfig& server) {
  ListenerTlsConfig tls;
  tls.mark = e.at;
  if (!r.expect_map(e.value, e.at, "'tls' must be a map with 'certificates'")) return;
  Mark ca_key_at;
  bool client_cert_read = true;  // false: an error was given, the mode is not known
  auto seen = r.walk_map(
      e.value, e.at, "server.tls",
      {{"certificates", [&](const Entry& f) { load_certificates(r, f, tls); }},
       r.enum_field("min_version", kTlsVersions, tls.min_version,
                    "'min_version' must be \"1.2\" or \"1.3\" (older versions are refused)"),
       {"client_ca_file",
        [&](const Entry& f) {
          ca_key_at = f.key_at;
          if (r.read_named_file(f, kMaxKeyFileBytes, tls.client_ca_file, tls.client_ca_pem)) {
            tls.client_ca_mark = f.at;
          }
        }},
       {"client_cert",
        [&](const Entry& f) {
          tls.client_cert_mark = f.at;
          client_cert_read = r.read_enum(f, kClientCertModes, tls.client_cert,
                                         "'client_cert' must be off, optional or required");
        }},
       r.uint_field("session_timeout_s", tls.session_timeout_s, 0, 86400)});
  r.require(seen, "certificates", e.at, "server.tls");
  if (tls.client_cert == ClientCertMode::Required && !seen.count("client_ca_file")) {
    r.error(tls.client_cert_mark,
            "client_cert: required needs 'client_ca_file' (the CA that issues client "
            "certificates)");
  }
  if (seen.count("client_ca_file") && client_cert_read && !tls.asks_for_client_cert()) {
    r.warning(ca_key_at, "client_ca_file is not used with client_cert: off");
  }
  server.tls = std::move(tls);
}

void load_client_cert(YamlReader& r, const Entry& e, Config& config) {
  ClientCertConfig& cc = config.client_cert;
  cc.mark = e.at;
  r.walk_map(
      e.value, e.at, "client_cert",
      {{"client_id_from",
        [&](const Entry& f) {
          std::vector<std::string> names;
          std::vector<Mark> at;
          if (!r.read_string_list(f, names, at)) return;
          if (names.empty()) {
            r.error(f.at,
                    "'client_id_from' must list at least one of san_uri, san_dns, subject_cn");
            return;
          }
          std::vector<CertIdentitySource> sources;
          for (std::size_t i = 0; i < names.size(); ++i) {
            const auto s = value_of(kIdentitySources, names[i]);
            if (!s) {
              r.error(at[i], "'" + names[i] + "' is not one of san_uri, san_dns, subject_cn");
              continue;
            }
            if (std::find(sources.begin(), sources.end(), *s) != sources.end()) {
              r.error(at[i], "'" + names[i] + "' is listed twice");
              continue;
            }
            sources.push_back(*s);
          }
          cc.client_id_from = std::move(sources);
        }},
       {"thumbprint_header", [&](const Entry& f) {
          std::string name;
          if (!r.read_header_name(f, name)) return;
          const auto& h = config.identity.headers;
          auto key = [](std::string_view s) {
            std::string k = to_lower(s);
            std::replace(k.begin(), k.end(), '_', '-');
            return k;
          };
          for (const auto* other :
               {&h.user_id, &h.client_id, &h.scopes, &h.roles, &h.auth_method, &h.request_id}) {
            if (key(*other) == key(name)) {
              r.error(f.at, "thumbprint_header '" + name + "' is already an identity header");
              return;
            }
          }
          const auto& sc = config.identity.signed_context;
          if (sc && key(sc->header) == key(name)) {
            r.error(f.at, "thumbprint_header '" + name + "' is identity.signed_context.header");
            return;
          }
          if (key(name) == "authorization" || key(name) == "host") {
            r.error(f.at, "thumbprint_header may not be '" + name + "'");
            return;
          }
          config.identity.headers.cert_thumbprint = name;
        }}});
}

std::optional<std::string> client_cert_method_unavailable(const Config& config) {
  const auto& tls = config.server.tls;
  if (!tls) return "auth method 'client_cert' needs TLS on the listener (server.tls)";
  if (!tls->asks_for_client_cert()) {
    return "auth method 'client_cert' needs server.tls.client_cert: optional or required";
  }
  if (tls->client_ca_file.empty()) {
    return "auth method 'client_cert' needs server.tls.client_ca_file to verify certificates";
  }
  return std::nullopt;
}

void check_cert_binding(YamlReader& r, const Config& config) {
  const bool asks = config.server.tls && config.server.tls->asks_for_client_cert();
  if (asks) return;
  const std::string why =
      "require_cert_binding needs client certificates: set server.tls.client_cert to optional "
      "or required";
  for (const auto& [name, p] : config.jwt_providers) {
    if (p.require_cert_binding) r.error(p.cert_binding_mark, "jwt provider '" + name + "': " + why);
  }
  for (const auto& [name, p] : config.oauth2_providers) {
    if (p.require_cert_binding) {
      r.error(p.cert_binding_mark, "oauth2 provider '" + name + "': " + why);
    }
  }
}

}  // namespace portcullis::config
