// `log`: level and format of the gateway's messages, access log destination, query
// parameters to redact.
#include "config/sections.h"

namespace portcullis::config {
namespace {
constexpr EnumName<LogFormat> kFormats[] = {{LogFormat::Text, "text"}, {LogFormat::Json, "json"}};
}  // namespace

void load_log(YamlReader& r, const Entry& e, Config& config) {
  auto& log = config.log;
  r.walk_map(
      e.value, e.at, "log",
      {{"level",
        [&](const Entry& f) {
          std::string level;
          if (!r.read_string(f, level)) return;
          static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
          if (!kLevels.count(level)) {
            r.error(f.at,
                    "log level '" + level + "' must be one of trace, debug, info, warn, error");
            return;
          }
          log.level = level;
        }},
       r.enum_field("format", kFormats, log.format, "log format '{}' must be text or json"),
       {"access",
        [&](const Entry& f) {
          std::string access;
          if (!r.read_nonempty_string(f, access)) return;
          bool special = access == "stdout" || access == "stderr" || access == "off";
          log.access = special ? access : r.resolve_path(access);
          log.access_at = f.at;
        }},
       {"redact_query_params",
        [&](const Entry& f) { r.read_string_list(f, log.redact_query_params); }}});
}

}  // namespace portcullis::config
