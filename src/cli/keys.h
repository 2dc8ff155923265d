// `portcullis keys ...`: manage API keys in the key store (create, list, disable, enable,
// revoke, rotate). The store and the pepper come from `-c FILE` (its api_keys section) or
// from `--store sqlite:///path/keys.db` with the pepper in PORTCULLIS_KEY_PEPPER.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace portcullis::cli {

class KeysCommand {
 public:
  // Adds the `keys` subcommand and its subcommands to `app`.
  explicit KeysCommand(CLI::App& app);
  ~KeysCommand();
  bool parsed() const;
  // Runs the parsed subcommand; the process exit code (cli/usage.h: 0, 1 or 2).
  int run();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace portcullis::cli
