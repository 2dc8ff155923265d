// Loading of the `oauth2_providers` section, kept apart from loader.cc so that the
// mechanism's settings live beside each other. Called by the loader with the section's
// node; every problem is reported through `error` at the offending node.
#pragma once

#include <functional>
#include <string>

#include "config/config.h"

namespace YAML {
class Node;
}

namespace portcullis::config {

using ReportError = std::function<void(Mark, std::string)>;

// Fills config.oauth2_providers. A provider with errors is still added (the load fails
// anyway) so that routes naming it are not reported a second time.
void load_oauth2_section(const YAML::Node& section, Mark at, const std::string& base_dir,
                         Config& config, const ReportError& error);

// For the loader's route check: nullopt when `oauth2:NAME` names a configured provider,
// else the message to report.
std::optional<std::string> oauth2_method_unavailable(const Config& config,
                                                     const AuthMethod& method);

}  // namespace portcullis::config
