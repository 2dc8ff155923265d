// `identity`: the names of the headers the gateway writes, extra headers to strip, and the
// signed identity context (config/signed_context_section.cc).
#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {

void load_identity(YamlReader& r, const Entry& e, Config& config) {
  auto& id = config.identity;
  std::optional<Entry> signed_context;
  // Where each header was set, for the distinctness check; defaults have no position.
  std::vector<std::pair<std::string, Mark>> set_at;
  auto header = [&](std::string_view key, std::string& target) {
    return Field{key, [&, key](const Entry& f) {
                   if (!r.read_header_name(f, target)) return;
                   set_at.emplace_back(std::string(key), f.at);
                   if (const auto why = reserved_header(target); !why.empty()) {
                     r.error(f.at, "identity.headers." + std::string(key) + " '" + target + "' " +
                                       std::string(why));
                   }
                 }};
  };
  r.walk_map(
      e.value, e.at, "identity",
      {{"headers",
        [&](const Entry& h) {
          auto& hs = id.headers;
          r.walk_map(h.value, h.at, "identity.headers",
                     {header("user_id", hs.user_id), header("client_id", hs.client_id),
                      header("scopes", hs.scopes), header("roles", hs.roles),
                      header("auth_method", hs.auth_method), header("request_id", hs.request_id)});
          const std::vector<std::pair<std::string, const std::string*>> all = {
              {"user_id", &hs.user_id},         {"client_id", &hs.client_id},
              {"scopes", &hs.scopes},           {"roles", &hs.roles},
              {"auth_method", &hs.auth_method}, {"request_id", &hs.request_id}};
          auto mark_of_key = [&](const std::string& key) {
            for (const auto& [k, m] : set_at) {
              if (k == key) return m;
            }
            return Mark{};
          };
          for (std::size_t i = 0; i < all.size(); ++i) {
            for (std::size_t j = i + 1; j < all.size(); ++j) {
              if (header_key(*all[i].second) != header_key(*all[j].second)) continue;
              Mark at = mark_of_key(all[j].first);
              if (at.line == 0) at = mark_of_key(all[i].first);
              r.error(at, "identity header '" + *all[j].second + "' is used for both " +
                              all[i].first + " and " + all[j].first);
            }
          }
        }},
       {"strip_inbound",
        [&](const Entry& f) {
          r.read_string_list(f, id.strip_inbound, [](const std::string& s) {
            if (!is_token(s)) return "'" + s + "' is not a valid HTTP header name";
            const auto why = unstrippable_header(s);
            return why.empty() ? std::string()
                               : "'" + s + "' cannot be stripped: it " + std::string(why);
          });
        }},
       // Read after the walk: its header is compared with identity.headers, wherever they are.
       {"signed_context", [&](const Entry& f) { signed_context = f; }}});
  if (signed_context) load_signed_context(r, *signed_context, id);
}

}  // namespace portcullis::config
