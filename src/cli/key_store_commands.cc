#include "cli/key_store_commands.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "auth/api_key/key_format.h"
#include "auth/api_key/secret_hash.h"
#include "cli/usage.h"
#include "config/loader.h"

namespace portcullis::cli {

int fail(const std::string& message) {
  std::cerr << "portcullis keys: " << message << "\n";
  return kFailed;
}

int usage(const std::string& message) {
  std::cerr << "portcullis keys: " << message << "\n";
  return kUsage;
}

namespace ak = auth::api_key;

namespace {

constexpr const char* kPepperEnv = "PORTCULLIS_KEY_PEPPER";

// A store named on the command line. Relative SQLite paths resolve against the working
// directory; the message never repeats a password.
bool spec_from_url(const std::string& option, const std::string& url, const std::string& schema,
                   ak::KeyStoreSpec& out, std::string& error) {
  std::error_code ec;
  const auto cwd = std::filesystem::current_path(ec);
  std::string why;
  if (!config::parse_key_store_url(url, cwd.string(), out.location, why)) {
    error = option + " '" + config::mask_store_url(url) + "': " + why;
    return false;
  }
  out.password = out.location.password;
  if (!schema.empty()) {
    if (std::string bad = config::check_schema_name(schema); !bad.empty()) {
      error = "--schema " + bad;
      return false;
    }
    out.schema = schema;
  }
  out.application_name = "portcullis-keys";
  return true;
}

bool fingerprint_of(const std::string& pepper, ak::Digest& out, std::string& error) {
  auto hasher = ak::SecretHasher::create(pepper, error);
  if (!hasher || !hasher->fingerprint(out)) {
    error = "cannot use the pepper: " + error;
    return false;
  }
  return true;
}

// Every usable row of the source, owned. Rows that could never authenticate (a bad id or
// hash) are counted and left behind.
bool read_source(ak::KeyStore& from, std::vector<ak::KeyRecord>& out, std::size_t& skipped,
                 std::string& error) {
  ak::PollResult r = from.load_all([&](const ak::KeyRow& row) {
    if (!ak::valid_key_id(row.id) || row.secret_hmac.size() != ak::Digest().size()) {
      ++skipped;
      return;
    }
    out.push_back(ak::KeyRecord::from(row));
  });
  if (!r.ok) error = r.error;
  return r.ok;
}

// The destination is bound to the source's pepper (and to the one the command was given, if
// any, which must be the same): keys hashed under one pepper are useless under another.
bool bind_peppers(ak::KeyStore& from, ak::KeyStore& to, const std::optional<std::string>& pepper,
                  std::string& error) {
  std::optional<ak::Digest> source;
  if (!from.pepper_fingerprint(source, error)) return false;
  if (pepper) {
    ak::Digest given;
    if (!fingerprint_of(*pepper, given, error)) return false;
    if (source && !ak::digest_equal(*source, given)) {
      error = from.describe() + " was made with another pepper than the one given";
      return false;
    }
    source = given;
  }
  return !source || to.bind_pepper(*source, error);
}

}  // namespace

int choose_store(const std::string& config_path, const std::string& store_url,
                 const std::string& schema, StoreChoice& out) {
  if (!config_path.empty() && !store_url.empty()) {
    return usage("give either -c FILE or --store URL, not both");
  }
  if (!config_path.empty()) {
    if (!schema.empty()) return usage("--schema goes with --store; -c FILE has api_keys.schema");
    auto result = config::load_config_file(config_path);
    for (const auto& e : result.errors) std::cerr << e.str() << "\n";
    if (!result.ok()) return kFailed;
    out.config = result.config;
    if (!out.config->api_keys) return fail(config_path + " has no api_keys section");
    out.spec = ak::KeyStoreSpec::from(*out.config->api_keys);
    out.spec.application_name = "portcullis-keys";
    out.pepper = out.config->api_keys->pepper.reveal();
    return kOk;
  }
  if (store_url.empty()) {
    return usage(
        "name the key store: -c FILE (its api_keys section) or --store "
        "sqlite:///path/keys.db or postgresql://user@host/db");
  }
  std::string error;
  if (!spec_from_url("--store", store_url, schema, out.spec, error)) return usage(error);
  if (const char* p = std::getenv(kPepperEnv); p != nullptr && *p != '\0') {
    if (std::string_view(p).size() < 16) {
      return fail(std::string(kPepperEnv) +
                  " is shorter than 16 bytes; use a random pepper "
                  "(e.g. openssl rand -base64 32)");
    }
    out.pepper = p;
  }
  return 0;
}

int run_migrate(const StoreChoice& store) {
  int version = 0;
  std::vector<std::string> applied;
  std::string error;
  if (!ak::migrate_key_store(store.spec, version, applied, error)) return fail(error);
  for (const auto& m : applied) std::cout << "applied migration " << m << "\n";
  std::cout << store.spec.describe() << ": schema version " << version
            << (applied.empty() ? " (up to date)" : "") << "\n";
  return 0;
}

int run_copy(const std::string& from_url, const std::string& from_schema, const StoreChoice& to) {
  ak::KeyStoreSpec from_spec;
  std::string error;
  if (!spec_from_url("--from", from_url, from_schema, from_spec, error)) return usage(error);
  if (from_spec.describe() == to.spec.describe()) {
    return usage("--from and the destination are one store");
  }
  auto from = ak::open_key_store(from_spec, ak::StoreUse::Existing, error);
  if (!from) return fail(error);
  auto dest = ak::open_key_store(to.spec, ak::StoreUse::CreateIfMissing, error);
  if (!dest) return fail(error);
  if (!bind_peppers(*from, *dest, to.pepper, error)) return fail(error);
  std::vector<ak::KeyRecord> records;
  std::size_t skipped = 0;
  if (!read_source(*from, records, skipped, error)) return fail(error);
  ak::ImportCounts counts;
  if (dest->import_keys(records, counts, error) != ak::WriteResult::Ok) return fail(error);
  std::cout << "copied " << records.size() << " keys from " << from->describe() << " to "
            << dest->describe() << ": " << counts.added << " added, " << counts.updated
            << " updated, " << counts.unchanged << " unchanged, " << counts.conflicts
            << " conflicting\n";
  if (skipped > 0)
    std::cerr << "warning: " << skipped << " unusable rows (bad id or hash) left behind\n";
  if (counts.conflicts > 0) {
    return fail(std::to_string(counts.conflicts) + " key ids (e.g. " + counts.first_conflict +
                ") hold a different key in the destination; they were left alone");
  }
  return 0;
}

}  // namespace portcullis::cli
