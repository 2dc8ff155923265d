// The command line's exit codes, one table for every subcommand (docs/operations.md), and
// the answer to a command line CLI11 could not parse.
#pragma once

#include <CLI/CLI.hpp>

namespace portcullis::cli {

// 0: done. 1: the command ran and failed (an invalid config, a store that cannot be opened,
// no such key, a listener that cannot bind). 2: the command line itself is wrong (an unknown
// command or option, a missing or malformed argument); nothing was done.
enum ExitCode : int { kOk = 0, kFailed = 1, kUsage = 2 };

// Parses the command line. On a parse error prints the problem (an unknown command is named,
// with the commands that exist) and returns kUsage; on --help prints the help and returns kOk.
// Returns -1 when parsing succeeded and the command should run.
int parse_command_line(CLI::App& app, int argc, char** argv);

}  // namespace portcullis::cli
