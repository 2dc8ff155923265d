// The loader of the `jwt_providers` section and of the jwt route options, kept out of
// loader.cc. Every problem is reported through `error` with the line and column of the node
// it concerns, like the rest of the loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>

#include "config/config.h"

namespace portcullis::config {

struct JwtSectionContext {
  std::string base_dir;                  // relative file paths resolve against it
  const IdentityConfig* identity = nullptr;
  std::function<void(int line, int col, const std::string& message)> error;
  std::function<void(int line, int col, const std::string& message)> warning;
};

// Loads `jwt_providers: { NAME: {...}, ... }` into `out`. A provider with errors is still put
// in `out` (the whole config is refused anyway), so that routes naming it are not reported
// a second time.
void load_jwt_providers(const YAML::Node& section, int line, int col,
                        const JwtSectionContext& ctx,
                        std::map<std::string, JwtProviderConfig>& out);

// The route option `jwt_query_param`: empty when `name` is acceptable, else the problem.
std::string check_jwt_query_param(const std::string& name);

}  // namespace portcullis::config
