// Loads and validates a YAML config. Every problem is reported as a Diagnostic with the
// file, line and column it concerns; nothing half-valid is ever returned.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace portcullis::config {

struct Diagnostic {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem has no position (file unreadable)
  int col = 0;
  std::string message;
  // "FILE:LINE:COL: message" (or "FILE: message" without a position).
  std::string str() const;
};

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

// Normalises a path written in the config the way request paths are normalised.
std::string normalise_config_path(std::string_view path);

}  // namespace portcullis::config
