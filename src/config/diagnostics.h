// The problems found in one config file, each at the position it concerns. The loader's
// sections and the mechanisms' own checks (e.g. auth/jwt/config_check.h) report here, so that
// `portcullis check` prints them all, sorted, as FILE:LINE:COL: message.
#pragma once

#include <string>
#include <vector>

#include "config/mark.h"

namespace portcullis::config {

struct Diagnostic {
  std::string file;
  int line = 0;  // 1-based; 0 when the problem has no position (file unreadable)
  int col = 0;
  std::string message;
  // "FILE:LINE:COL: message" (or "FILE: message" without a position).
  std::string str() const;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(Mark at, std::string message);
  void warning(Mark at, std::string message);

  std::size_t error_count() const { return errors_.size(); }
  // Sorted by position, in the order reported among equal positions.
  std::vector<Diagnostic> take_errors();
  std::vector<Diagnostic> take_warnings();

 private:
  std::string file_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

}  // namespace portcullis::config
