// Collecting and ordering config diagnostics (see diagnostics.h).
#include "config/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace portcullis::config {
namespace {

std::vector<Diagnostic> sorted(std::vector<Diagnostic> ds) {
  std::stable_sort(ds.begin(), ds.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.col) < std::tie(b.line, b.col);
  });
  return ds;
}

}  // namespace

std::string Diagnostic::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

void Diagnostics::error(Mark at, std::string message) {
  errors_.push_back({file_, at.line, at.col, std::move(message)});
}

void Diagnostics::warning(Mark at, std::string message) {
  warnings_.push_back({file_, at.line, at.col, std::move(message)});
}

std::vector<Diagnostic> Diagnostics::take_errors() {
  return sorted(std::move(errors_));
}
std::vector<Diagnostic> Diagnostics::take_warnings() {
  return sorted(std::move(warnings_));
}

}  // namespace portcullis::config
