// The gateway's own messages (startup, reload, warnings, errors) go to stderr through
// spdlog's default logger, "portcullis": as text lines, or with `log.format: json` as one
// JSON object per line ({"time", "level", "logger", "msg"}), which log pipelines read without
// a parsing rule. The access log is separate (observe/access_log.h) and always JSON.
#pragma once

#include <memory>
#include <string_view>

#include "config/config.h"

namespace spdlog {
class formatter;
}

namespace portcullis::observe {

// Installs the stderr logger on the first call; sets the level ("trace" ... "error") and the
// format. Called at start and on every reload that is applied, so both take effect at once.
void configure_gateway_log(std::string_view level, config::LogFormat format);

// The formatter behind `log.format: json` (exposed for tests).
std::unique_ptr<spdlog::formatter> make_json_log_formatter();

}  // namespace portcullis::observe
