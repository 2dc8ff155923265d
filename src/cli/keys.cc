#include "cli/keys.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "auth/api_key/key_format.h"
#include "auth/api_key/secret_hash.h"
#include "auth/api_key/store_factory.h"
#include "auth/api_key/time_format.h"
#include "cli/key_store_commands.h"
#include "cli/usage.h"
#include "common/join.h"
#include "config/loader.h"
#include "identity/rate_plan.h"
#include "ip/cidr.h"

namespace portcullis::cli {

namespace ak = auth::api_key;
namespace json = boost::json;

namespace {

constexpr const char* kPepperEnv = "PORTCULLIS_KEY_PEPPER";  // read in key_store_commands.cc

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Printable ASCII without spaces: client ids, scopes and route names become header values.
bool plain_token(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::vector<std::string> split_list(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& arg : args) {
    std::size_t pos = 0;
    while (pos <= arg.size()) {
      std::size_t comma = arg.find(',', pos);
      if (comma == std::string::npos) comma = arg.size();
      std::string item = arg.substr(pos, comma - pos);
      while (!item.empty() && item.front() == ' ') item.erase(item.begin());
      while (!item.empty() && item.back() == ' ') item.pop_back();
      if (!item.empty()) out.push_back(item);
      pos = comma + 1;
    }
  }
  return out;
}

json::array to_array(std::string_view space_separated) {
  json::array a;
  std::size_t pos = 0;
  while (pos < space_separated.size()) {
    std::size_t sp = space_separated.find(' ', pos);
    if (sp == std::string_view::npos) sp = space_separated.size();
    if (sp > pos) a.emplace_back(space_separated.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return a;
}

json::value time_or_null(std::optional<std::int64_t> t) {
  if (!t) return nullptr;
  return json::value(ak::format_time(*t));
}

json::value text_or_null(std::string_view s) {
  if (s.empty()) return nullptr;
  return json::value(s);
}

// What a new key and a listed one both show (NewKey and KeyInfo name these fields alike).
template <class Key>
void add_settings(json::object& o, const Key& k) {
  o["scopes"] = to_array(k.scopes);
  o["routes"] = to_array(k.routes);
  o["cidrs"] = to_array(k.cidrs);
  o["expires_at"] = time_or_null(k.expires_at);
  o["label"] = k.label;
  o["rate_limit"] = text_or_null(k.rate_limit);
}

}  // namespace

struct KeysCommand::State {
  CLI::App* keys = nullptr;
  CLI::App *create = nullptr, *list = nullptr, *disable = nullptr, *enable = nullptr,
           *revoke = nullptr, *rotate = nullptr, *migrate = nullptr, *copy = nullptr,
           *update = nullptr;
  std::string config_path, store_url, schema;
  std::string copy_from, copy_from_schema, copy_to;

  // create / rotate
  std::string client;
  std::vector<std::string> scopes, routes, cidrs;
  std::string expires, label, grace = "7d";
  std::optional<std::string> rate_limit;  // create / update: as given
  bool json_out = false;
  std::string id;

  // Resolved.
  std::unique_ptr<ak::KeyStore> store;
  std::optional<std::string> pepper;
  std::shared_ptr<const config::Config> config;

  int open(bool need_pepper, bool create_store);
  int cmd_create();
  int cmd_list();
  int cmd_status(ak::KeyStatus to);
  int cmd_rotate();
  int cmd_update();
  // --rate-limit as stored: the canonical plan ("1000/1m"), or "" for none (`none` only where
  // `allow_none`). False with the exit code in `rc` when it does not read.
  bool stored_plan(bool allow_none, std::string& out, int& rc) const;
  bool new_key(const std::string& client_id, ak::NewKey& row, std::string& key);
  void print_created(const ak::NewKey& row, const std::string& key, json::object extra);
};

KeysCommand::KeysCommand(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.keys = app.add_subcommand("keys",
                              "Manage API keys (create, list, update, disable, enable, revoke, "
                              "rotate) and key stores (migrate, copy)");
  s.keys->require_subcommand(1);
  s.keys->add_option("-c,--config", s.config_path,
                     "Gateway config file: the key store and pepper of its api_keys section");
  s.keys->add_option("--store", s.store_url,
                     "Key store, e.g. sqlite:///var/lib/portcullis/keys.db or "
                     "postgresql://user@host/db (the pepper is read from PORTCULLIS_KEY_PEPPER)");
  s.keys->add_option("--schema", s.schema,
                     "PostgreSQL schema of a --store URL (default portcullis)");

  auto common = [&](CLI::App* sub) {
    sub->fallthrough();  // -c / --store may come after the subcommand too
    return sub;
  };
  s.create = common(s.keys->add_subcommand("create", "Create a key; it is printed this once"));
  s.create->add_option("--client", s.client, "Client id the key authenticates as")->required();
  s.create->add_option("--scopes", s.scopes, "Scopes, comma-separated");
  s.create->add_option("--routes", s.routes, "Only these routes (names), comma-separated");
  s.create->add_option("--allow-cidr", s.cidrs,
                       "Only from this source CIDR (IPv4 or IPv6; repeatable)");
  s.create->add_option("--expires", s.expires, "Expiry, RFC 3339: 2027-01-31T00:00:00Z");
  s.create->add_option("--label", s.label, "Free text for operators");
  s.create->add_option("--rate-limit", s.rate_limit,
                       "The key's own rate plan, REQUESTS/WINDOW (e.g. 1000/1m; window Ns, Nm, "
                       "Nh or Nd): replaces the route's client_id limits for this key");
  s.create->add_flag("--json", s.json_out, "Print JSON");

  s.list = common(s.keys->add_subcommand("list", "List keys (never their secrets)"));
  s.list->add_option("--client", s.client, "Only this client's keys");
  s.list->add_flag("--json", s.json_out, "Print JSON");

  s.update = common(s.keys->add_subcommand("update", "Change a key's settings (its rate plan)"));
  s.update->add_option("id", s.id, "Key id")->required();
  s.update->add_option("--rate-limit", s.rate_limit,
                       "New rate plan, REQUESTS/WINDOW (e.g. 500/1m), or none to remove it");
  s.update->add_flag("--json", s.json_out, "Print JSON");

  s.disable = common(s.keys->add_subcommand("disable", "Disable a key (enable undoes it)"));
  s.disable->add_option("id", s.id, "Key id")->required();
  s.enable = common(s.keys->add_subcommand("enable", "Enable a disabled key"));
  s.enable->add_option("id", s.id, "Key id")->required();
  s.revoke = common(s.keys->add_subcommand("revoke", "Revoke a key, for good"));
  s.revoke->add_option("id", s.id, "Key id")->required();

  s.rotate = common(s.keys->add_subcommand(
      "rotate", "Create a new key for a client; its other keys expire after --grace"));
  s.rotate->add_option("--client", s.client, "Client whose keys to rotate")->required();
  s.rotate->add_option("--grace", s.grace,
                       "How long the old keys keep working: 7d, 12h, 30m, 2s, 0 (default 7d)");
  s.rotate->add_option("--label", s.label, "Label of the new key (default: the old one's)");
  s.rotate->add_flag("--json", s.json_out, "Print JSON");

  s.migrate = common(s.keys->add_subcommand(
      "migrate", "Create the key store's schema or upgrade it to this version's"));
  s.copy = common(s.keys->add_subcommand(
      "copy", "Copy every key (hash and settings) from another store; safe to repeat"));
  s.copy->add_option("--from", s.copy_from, "Store to copy from, e.g. sqlite:///old/keys.db")
      ->required();
  s.copy->add_option("--from-schema", s.copy_from_schema,
                     "PostgreSQL schema of --from (default portcullis)");
  s.copy->add_option("--to", s.copy_to, "Store to copy into (or -c FILE: its api_keys store)");
}

KeysCommand::~KeysCommand() = default;

bool KeysCommand::parsed() const {
  return state_->keys->parsed();
}

int KeysCommand::run() {
  State& s = *state_;
  if (s.create->parsed()) return s.cmd_create();
  if (s.list->parsed()) return s.cmd_list();
  if (s.update->parsed()) return s.cmd_update();
  if (s.disable->parsed()) return s.cmd_status(ak::KeyStatus::Disabled);
  if (s.enable->parsed()) return s.cmd_status(ak::KeyStatus::Active);
  if (s.revoke->parsed()) return s.cmd_status(ak::KeyStatus::Revoked);
  if (s.rotate->parsed()) return s.cmd_rotate();
  if (s.migrate->parsed() || s.copy->parsed()) {
    StoreChoice choice;
    const std::string& url = s.copy->parsed() && !s.copy_to.empty() ? s.copy_to : s.store_url;
    if (s.copy->parsed() && !s.copy_to.empty() && !s.store_url.empty()) {
      return usage("give --to or --store, not both");
    }
    if (int rc = choose_store(s.config_path, url, s.schema, choice); rc != 0) return rc;
    if (s.migrate->parsed()) return run_migrate(choice);
    return run_copy(s.copy_from, s.copy_from_schema, choice);
  }
  return usage("no subcommand");
}

int KeysCommand::State::open(bool need_pepper, bool create_store) {
  StoreChoice choice;
  if (int rc = choose_store(config_path, store_url, schema, choice); rc != 0) return rc;
  config = choice.config;
  pepper = choice.pepper;
  if (need_pepper && !pepper) {
    // list, disable, enable and revoke never hash a secret; create and rotate do.
    return fail(std::string("create and rotate need the pepper: set ") + kPepperEnv +
                " (the store's pepper, at least 16 bytes) or use -c FILE");
  }
  std::string error;
  store = ak::open_key_store(
      choice.spec, create_store ? ak::StoreUse::CreateIfMissing : ak::StoreUse::Existing, error);
  if (!store) return fail(error);
  if (pepper) {
    auto hasher = ak::SecretHasher::create(*pepper, error);
    ak::Digest fp;
    if (!hasher || !hasher->fingerprint(fp)) return fail("cannot use the pepper: " + error);
    if (!store->bind_pepper(fp, error)) return fail(error);
  }
  return 0;
}

bool KeysCommand::State::new_key(const std::string& client_id, ak::NewKey& row, std::string& key) {
  ak::GeneratedKey g;
  if (!ak::generate_key(g)) return false;
  std::string error;
  auto hasher = ak::SecretHasher::create(*pepper, error);
  if (!hasher || !hasher->hash(g.secret, row.secret_hmac)) return false;
  row.id = g.id;
  row.client_id = client_id;
  row.created_at = unix_now();
  key = std::move(g.key);
  return true;
}

void KeysCommand::State::print_created(const ak::NewKey& row, const std::string& key,
                                       json::object extra) {
  if (json_out) {
    json::object o;
    o["id"] = row.id;
    o["key"] = key;
    o["client_id"] = row.client_id;
    add_settings(o, row);
    for (auto& kv : extra) o[kv.key()] = kv.value();
    std::cout << json::serialize(o) << "\n";
  } else {
    std::cout << "key:     " << key << "\n"
              << "id:      " << row.id << "\n"
              << "client:  " << row.client_id << "\n";
    if (!row.scopes.empty()) std::cout << "scopes:  " << row.scopes << "\n";
    if (!row.routes.empty()) std::cout << "routes:  " << row.routes << "\n";
    if (!row.cidrs.empty()) std::cout << "cidrs:   " << row.cidrs << "\n";
    if (row.expires_at) std::cout << "expires: " << ak::format_time(*row.expires_at) << "\n";
    if (!row.rate_limit.empty()) std::cout << "plan:    " << row.rate_limit << "\n";
  }
  std::cerr << "This is the only time the key is shown: store it now. Only its id and a "
               "keyed hash of its secret are kept.\n";
}

int KeysCommand::State::cmd_create() {
  if (!plain_token(client)) return usage("--client must be 1-200 printable characters, no spaces");
  ak::NewKey row;
  std::vector<std::string> scope_list = split_list(scopes), route_list = split_list(routes);
  for (const auto& sc : scope_list) {
    if (!plain_token(sc)) return usage("scope '" + sc + "' must be printable, without spaces");
  }
  for (const auto& r : route_list) {
    bool simple = std::all_of(r.begin(), r.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if (!simple) return usage("route name '" + r + "' may only use letters, digits, '_', '-', '.'");
  }
  std::vector<std::string> cidr_list;
  for (const auto& c : split_list(cidrs)) {
    ip::Cidr block;
    std::string why;
    if (!ip::parse_cidr(c, block, why)) return usage("--allow-cidr " + why);
    cidr_list.push_back(ip::to_string(block));
  }
  const std::int64_t now = unix_now();
  if (!expires.empty()) {
    auto t = ak::parse_time(expires);
    if (!t)
      return usage("--expires '" + expires + "': expected RFC 3339, e.g. 2027-01-31T00:00:00Z");
    if (*t <= now) return usage("--expires " + expires + " is in the past");
    row.expires_at = *t;
  }
  for (char c : label) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return usage("--label must not contain control characters");
    }
  }
  if (int rc = 0; !stored_plan(false, row.rate_limit, rc)) return rc;
  if (int rc = open(true, true); rc != 0) return rc;
  if (config) {
    for (const auto& r : route_list) {
      bool known = std::any_of(config->routes.begin(), config->routes.end(),
                               [&](const config::RouteConfig& rc) { return rc.name == r; });
      if (!known) std::cerr << "warning: " << config_path << " has no route named '" << r << "'\n";
    }
  }
  row.scopes = join(scope_list, " ");
  row.routes = join(route_list, " ");
  row.cidrs = join(cidr_list, " ");
  row.label = label;
  std::string key, error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (!new_key(client, row, key)) return fail("cannot generate a key (CSPRNG or HMAC failed)");
    auto result = store->create(row, error);
    if (result == ak::WriteResult::Ok) {
      print_created(row, key, {});
      return 0;
    }
    if (result != ak::WriteResult::Conflict) return fail(error);
  }
  return fail(error);
}

int KeysCommand::State::cmd_list() {
  if (int rc = open(false, false); rc != 0) return rc;
  std::vector<ak::KeyInfo> keys;
  std::string error;
  std::optional<std::string_view> only;
  if (!client.empty()) only = client;
  if (!store->list(only, keys, error)) return fail(error);
  const std::int64_t now = unix_now();
  if (json_out) {
    json::array a;
    for (const auto& k : keys) {
      json::object o;
      o["id"] = k.id;
      o["client_id"] = k.client_id;
      o["status"] = ak::effective_status(k, now);
      o["stored_status"] = ak::to_string(k.status);
      o["created_at"] = ak::format_time(k.created_at);
      o["last_used_at"] = time_or_null(k.last_used_at);
      add_settings(o, k);
      a.push_back(std::move(o));
    }
    std::cout << json::serialize(a) << "\n";
    return 0;
  }
  if (keys.empty()) {
    std::cerr << "no keys" << (client.empty() ? "" : " for client " + client) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "CLIENT", "STATUS", "CREATED", "EXPIRES",
                                                 "LAST USED", "SCOPES", "ROUTES", "CIDRS", "PLAN",
                                                 "LABEL"}};
  for (const auto& k : keys) {
    rows.push_back(
        {k.id, k.client_id, std::string(ak::effective_status(k, now)),
         ak::format_time(k.created_at), k.expires_at ? ak::format_time(*k.expires_at) : "-",
         k.last_used_at ? ak::format_time(*k.last_used_at) : "-", k.scopes.empty() ? "-" : k.scopes,
         k.routes.empty() ? "*" : k.routes, k.cidrs.empty() ? "*" : k.cidrs,
         k.rate_limit.empty() ? "-" : k.rate_limit, k.label});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
  return 0;
}

bool KeysCommand::State::stored_plan(bool allow_none, std::string& out, int& rc) const {
  out.clear();
  if (!rate_limit || (allow_none && *rate_limit == "none")) return true;
  std::string why;
  const auto plan = identity::parse_rate_plan(*rate_limit, &why);
  if (!plan) {
    rc = usage("--rate-limit '" + *rate_limit + "': " + why +
               (allow_none ? " (or none to remove the plan)" : ""));
    return false;
  }
  out = identity::to_string(*plan);
  return true;
}

namespace {

// The key id argument of update, disable, enable and revoke: 0 when it is one.
int check_key_id(const std::string& id) {
  if (id.starts_with(ak::kKeyPrefix)) {
    return usage("pass the key id (the 12 characters after ptk_), not the key itself");
  }
  if (!ak::valid_key_id(id)) return usage("'" + id + "' is not a key id (12 letters and digits)");
  return 0;
}

}  // namespace

int KeysCommand::State::cmd_update() {
  if (int rc = check_key_id(id); rc != 0) return rc;
  ak::KeyUpdate change;
  if (!rate_limit) return usage("nothing to update: give --rate-limit PLAN (or none)");
  if (int rc = 0; !stored_plan(true, change.rate_limit.emplace(), rc)) return rc;
  if (int rc = open(false, false); rc != 0) return rc;
  std::optional<ak::KeyInfo> current;
  std::string error;
  if (!store->get(id, current, error)) return fail(error);
  if (!current) return fail("no key with id " + id);
  if (store->update(id, change, error) != ak::WriteResult::Ok) return fail(error);
  const auto shown = [](const std::string& plan) { return plan.empty() ? "none" : plan; };
  if (json_out) {
    json::object o;
    o["id"] = id;
    o["client_id"] = current->client_id;
    o["rate_limit"] = text_or_null(*change.rate_limit);
    o["previous_rate_limit"] = text_or_null(current->rate_limit);
    std::cout << json::serialize(o) << "\n";
  } else {
    std::cout << "key " << id << " (client " << current->client_id << "): rate limit "
              << shown(current->rate_limit) << " -> " << shown(*change.rate_limit) << "\n";
  }
  return 0;
}

int KeysCommand::State::cmd_status(ak::KeyStatus to) {
  if (int rc = check_key_id(id); rc != 0) return rc;
  if (int rc = open(false, false); rc != 0) return rc;
  std::optional<ak::KeyInfo> current;
  std::string error;
  if (!store->get(id, current, error)) return fail(error);
  if (!current) return fail("no key with id " + id);
  if (current->status == to) {
    std::cout << "key " << id << " is already " << ak::to_string(to) << "\n";
    return 0;
  }
  auto result = store->set_status(id, to, error);
  if (result != ak::WriteResult::Ok) return fail(error);
  std::cout << "key " << id << " (client " << current->client_id
            << "): " << ak::to_string(current->status) << " -> " << ak::to_string(to) << "\n";
  if (to == ak::KeyStatus::Active && current->expires_at && *current->expires_at <= unix_now()) {
    std::cerr << "warning: the key expired at " << ak::format_time(*current->expires_at)
              << " and still does not authenticate\n";
  }
  return 0;
}

int KeysCommand::State::cmd_rotate() {
  auto grace_s = ak::parse_duration(grace);
  if (!grace_s) return usage("--grace '" + grace + "': expected e.g. 7d, 12h, 30m, 2s or 0");
  if (int rc = open(true, false); rc != 0) return rc;
  const std::int64_t now = unix_now();
  std::string key, error;
  ak::NewKey created;
  ak::RotationPlan plan;
  ak::WriteResult result = ak::WriteResult::Conflict;
  for (int attempt = 0; attempt < 3 && result == ak::WriteResult::Conflict; ++attempt) {
    // The key is made before the transaction; only the copied settings come from it.
    ak::NewKey fresh;
    if (!new_key(client, fresh, key)) return fail("cannot generate a key (CSPRNG or HMAC failed)");
    fresh.created_at = now;
    auto make_new = [&](const ak::KeyInfo& tmpl) {
      created = fresh;
      created.scopes = tmpl.scopes;
      created.routes = tmpl.routes;
      created.cidrs = tmpl.cidrs;
      created.rate_limit = tmpl.rate_limit;
      created.label = label.empty() ? tmpl.label : label;
      return created;
    };
    result = store->rotate(client, now, *grace_s, make_new, plan, error);
  }
  if (result != ak::WriteResult::Ok) return fail(error);
  json::array expiring;
  for (const auto& [old_id, until] : plan.expire) {
    json::object o;
    o["id"] = old_id;
    o["expires_at"] = ak::format_time(until);
    expiring.push_back(std::move(o));
  }
  print_created(created, key, {{"expiring", expiring}});
  if (!json_out) {
    for (const auto& [old_id, until] : plan.expire) {
      std::cout << "old key " << old_id << " expires " << ak::format_time(until) << "\n";
    }
  }
  return 0;
}

}  // namespace portcullis::cli
