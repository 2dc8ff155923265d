#include "observe/gateway_log.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "observe/utc_time.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace portcullis::observe {
namespace {

namespace json = boost::json;

constexpr const char* kLoggerName = "portcullis";
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %l %v";

// One message, one line: boost.json escapes whatever the message holds (quotes, newlines,
// control characters), so a line can never be split or turned into two objects.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    json::object o;
    o["time"] = format_utc(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    o["level"] = std::string_view(level.data(), level.size());
    o["logger"] = std::string_view(msg.logger_name.data(), msg.logger_name.size());
    o["msg"] = std::string_view(msg.payload.data(), msg.payload.size());
    const std::string line = json::serialize(o);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLogFormatter>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_json_log_formatter() {
  return std::make_unique<JsonLogFormatter>();
}

void configure_gateway_log(std::string_view level, config::LogFormat format) {
  auto logger = spdlog::get(kLoggerName);
  if (!logger) {
    logger = spdlog::stderr_logger_mt(kLoggerName);
    spdlog::set_default_logger(logger);
  }
  if (format == config::LogFormat::Json) {
    logger->set_formatter(make_json_log_formatter());
  } else {
    logger->set_formatter(
        std::make_unique<spdlog::pattern_formatter>(kTextPattern, spdlog::pattern_time_type::utc));
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace portcullis::observe
