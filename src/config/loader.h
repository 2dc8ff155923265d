// Loads and validates a YAML config. Every problem is reported as a Diagnostic with the
// file, line and column it concerns; nothing half-valid is ever returned.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/diagnostics.h"

namespace portcullis::config {

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when there is any error
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;  // e.g. a route shadowed by an earlier one
  bool ok() const { return config != nullptr; }
};

// Reads `path` and validates it. Relative paths inside the file resolve against the
// file's directory.
LoadResult load_config_file(const std::string& path);
// Same, from text; `name` is used as the file name in diagnostics.
LoadResult load_config_string(std::string_view yaml, const std::string& name,
                              const std::string& base_dir = ".");

// Runs a further check on a loaded config: what only a mechanism can judge, such as a JWT
// provider's algorithm names and key files (runtime::check_mechanism_configs). Its problems, reported
// at marks the config kept, join the result's; an error refuses the config as a load error
// would. Does nothing when the load already failed. `file` names the file in diagnostics.
void check_loaded(LoadResult& result, const std::string& file,
                  const std::function<void(const Config&, Diagnostics&)>& check);

// Normalises a path written in the config the way request paths are normalised
// (url::normalise_path).
std::string normalise_config_path(std::string_view path);

}  // namespace portcullis::config
