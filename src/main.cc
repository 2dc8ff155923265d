// The portcullis command line: run, check, keys, version. Exit codes: cli/usage.h.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "cli/keys.h"
#include "cli/usage.h"
#include "config/loader.h"
#include "net/http_client.h"
#include "observe/build_info.h"
#include "observe/gateway_log.h"
#include "runtime/runtime.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace {

namespace cli = portcullis::cli;
using portcullis::config::LoadResult;

// Loads the file with the checks `run` relies on (runtime::check_config). Errors go to
// stderr as FILE:LINE:COL lines; warnings too unless `keep_warnings` (then the caller
// logs them).
LoadResult load(const std::string& path, bool keep_warnings) {
  auto result = portcullis::config::load_config_file(path);
  portcullis::config::check_loaded(result, path, portcullis::runtime::check_config);
  if (!keep_warnings || !result.ok()) {
    for (const auto& w : result.warnings) std::cerr << w.str() << " (warning)\n";
  }
  for (const auto& e : result.errors) std::cerr << e.str() << "\n";
  return result;
}

int check(const std::string& path) {
  auto result = load(path, false);
  if (!result.ok()) return cli::kFailed;
  std::cout << path << ": ok\n";
  return cli::kOk;
}

int run(const std::string& path) {
  // A peer closing a socket must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Until the file is read its log.format is unknown: its errors are plain text.
  auto result = load(path, true);
  if (!result.ok()) return cli::kFailed;
  portcullis::observe::configure_gateway_log(result.config->log.level, result.config->log.format);
  for (const auto& w : result.warnings) spdlog::warn("{}", w.str());
  portcullis::server::Server server(path);
  const int rc = server.run(result.config);
  portcullis::net::HttpClient::shared().stop();  // before exit: see HttpClient::stop
  return rc == 0 ? cli::kOk : cli::kFailed;
}

int version() {
  const auto& build = portcullis::observe::build_info();
  std::cout << "portcullis " << build.version << " (commit " << build.commit << ", "
            << build.build_type << " build)\n";
  return cli::kOk;
}

}  // namespace

int main(int argc, char** argv) {
  // `portcullis --version`, as most tools take it, says what `portcullis version` says.
  if (argc == 2 && std::string_view(argv[1]) == "--version") return version();
  CLI::App app{"Portcullis: an API gateway that authenticates at the edge"};
  app.require_subcommand(1);

  std::string config_path;
  auto* run_cmd = app.add_subcommand("run", "Serve with the given config");
  run_cmd->add_option("-c,--config", config_path, "Config file (YAML)")->required();

  auto* check_cmd = app.add_subcommand("check", "Validate a config file; print every problem");
  check_cmd->add_option("-c,--config", config_path, "Config file (YAML)")->required();

  auto* version_cmd = app.add_subcommand("version", "Print the version (also --version)");
  cli::KeysCommand keys(app);

  if (const int rc = cli::parse_command_line(app, argc, argv); rc >= 0) return rc;

  if (version_cmd->parsed()) return version();
  if (keys.parsed()) return keys.run();
  if (check_cmd->parsed()) return check(config_path);
  if (run_cmd->parsed()) return run(config_path);
  return cli::kUsage;
}
