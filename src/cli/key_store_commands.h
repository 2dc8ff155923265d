// The keys CLI's side of the stores: which store a command works on (-c FILE, or --store URL
// with the pepper in PORTCULLIS_KEY_PEPPER), and the commands about stores themselves:
// `keys migrate` (create or upgrade the schema) and `keys copy` (move every key, with its
// hash and settings, from one store to another, idempotently).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "auth/api_key/store_factory.h"
#include "config/config.h"

namespace portcullis::cli {

struct StoreChoice {
  auth::api_key::KeyStoreSpec spec;
  std::optional<std::string> pepper;             // the config's, or PORTCULLIS_KEY_PEPPER
  std::shared_ptr<const config::Config> config;  // with -c FILE
};

// "portcullis keys: MESSAGE" on stderr, for every keys command. fail(): the command ran and
// failed (returns kFailed, exit 1); usage(): the command line is wrong and nothing was done
// (returns kUsage, exit 2).
int fail(const std::string& message);
int usage(const std::string& message);

// Resolves -c FILE or --store URL (exactly one) and, for a URL, --schema. 0 when resolved;
// else the problem is printed and the exit code returned.
int choose_store(const std::string& config_path, const std::string& store_url,
                 const std::string& schema, StoreChoice& out);

// `keys migrate`.
int run_migrate(const StoreChoice& store);

// `keys copy --from URL` into `to`. Refuses when the stores' peppers differ; keys whose id
// holds another key in the destination are left alone, reported, and fail the command.
int run_copy(const std::string& from_url, const std::string& from_schema, const StoreChoice& to);

}  // namespace portcullis::cli
