// The portcullis command line: run, check, version.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/keys.h"
#include "config/loader.h"
#include "net/http_client.h"
#include "observe/build_info.h"
#include "runtime/runtime.h"
#include "server/server.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace {

using portcullis::config::LoadResult;

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("portcullis");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

LoadResult load_and_report(const std::string& path, bool quiet_ok) {
  auto result = portcullis::config::load_config_file(path);
  // What only the jwt mechanism can judge (algorithm names, key files), reported at its
  // file:line:col like the loader's own problems.
  portcullis::config::check_loaded(result, path, portcullis::runtime::check_mechanism_configs);
  for (const auto& w : result.warnings) std::cerr << w.str() << " (warning)\n";
  for (const auto& e : result.errors) std::cerr << e.str() << "\n";
  if (result.ok() && !quiet_ok) std::cout << path << ": ok\n";
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Portcullis: an API gateway that authenticates at the edge"};
  app.require_subcommand(1);

  std::string config_path;
  auto* run = app.add_subcommand("run", "Serve with the given config");
  run->add_option("-c,--config", config_path, "Config file (YAML)")->required();

  auto* check = app.add_subcommand("check", "Validate a config file; print every problem");
  check->add_option("-c,--config", config_path, "Config file (YAML)")->required();

  auto* version = app.add_subcommand("version", "Print the version");
  portcullis::cli::KeysCommand keys(app);

  CLI11_PARSE(app, argc, argv);

  if (version->parsed()) {
    const auto& build = portcullis::observe::build_info();
    std::cout << "portcullis " << build.version << " (commit " << build.commit << ", "
              << build.build_type << " build)\n";
    return 0;
  }
  if (keys.parsed()) return keys.run();
  if (check->parsed()) {
    return load_and_report(config_path, false).ok() ? 0 : 1;
  }
  if (run->parsed()) {
    // A peer closing a socket must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    auto result = load_and_report(config_path, true);
    if (!result.ok()) return 1;
    setup_logging(result.config->log.level);
    portcullis::server::Server server(config_path);
    const int rc = server.run(result.config);
    portcullis::net::HttpClient::shared().stop();  // before exit: see HttpClient::stop
    return rc;
  }
  return 0;
}
