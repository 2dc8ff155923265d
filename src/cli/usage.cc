#include "cli/usage.h"

#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/join.h"

namespace portcullis::cli {
namespace {

// Where a command line stops in the tree of commands: the last command it names, and the
// word standing where that command expects one of its own and names none (empty if none).
struct Reached {
  const CLI::App* at = nullptr;
  std::string unknown;
};

// The option `arg` names, on `app` or an app it falls through to.
const CLI::Option* find_option(const CLI::App* app, const std::string& arg) {
  for (; app != nullptr; app = app->get_parent()) {
    if (const auto* opt = app->get_option_no_throw(arg)) return opt;
  }
  return nullptr;
}

std::vector<const CLI::App*> commands_of(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App*) { return true; });
}

// Walks the words: `portcullis frobnicate` stops at the top with "frobnicate" unknown,
// `portcullis keys -c gw.yaml` at keys. Options are stepped over with their value when it is
// a separate word; a command without commands of its own takes the rest as its arguments.
Reached walk(const CLI::App& app, int argc, char** argv) {
  Reached r{&app, {}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-') {
      const bool joined = arg.find('=') != std::string::npos || (arg[1] != '-' && arg.size() > 2);
      const CLI::Option* opt = joined ? nullptr : find_option(r.at, arg);
      if (opt != nullptr && opt->get_type_size_max() > 0) ++i;
      continue;
    }
    const auto commands = commands_of(*r.at);
    if (commands.empty()) break;
    const CLI::App* next = nullptr;
    for (const auto* c : commands) {
      if (c->check_name(arg)) next = c;
    }
    if (next == nullptr) {
      r.unknown = arg;
      break;
    }
    r.at = next;
  }
  return r;
}

// "portcullis", "portcullis keys".
std::string command_path(const CLI::App& app) {
  if (app.get_parent() == nullptr) return "portcullis";
  return command_path(*app.get_parent()) + " " + app.get_name();
}

std::string command_names(const CLI::App& app) {
  return join(commands_of(app), ", ",
              [](std::string& out, const CLI::App* c) { out += c->get_name(); });
}

}  // namespace

int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e) == 0 ? kOk : kUsage;  // --help
    const Reached r = walk(app, argc, argv);
    const std::string where = command_path(*r.at);
    if (!r.unknown.empty()) {
      std::cerr << where << ": unknown command '" << r.unknown
                << "'; the commands are: " << command_names(*r.at);
    } else if (!commands_of(*r.at).empty() &&
               std::string_view(e.what()).find("subcommand") != std::string_view::npos) {
      std::cerr << where << ": a command is required; the commands are: " << command_names(*r.at);
    } else {
      std::cerr << where << ": " << e.what();
    }
    std::cerr << " (see " << where << " --help)\n";
    return kUsage;
  }
}

}  // namespace portcullis::cli
