#include "observe/process_metrics.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "observe/metrics.h"

namespace portcullis::observe {

namespace {

void append_sample(std::string& out, std::string_view name, std::string_view type, double value) {
  Metrics::append_family_header(out, name, type);
  out += name;
  out.push_back(' ');
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  out += buf;
  out.push_back('\n');
}

// The fields of /proc/self/stat after the command name, which may itself hold spaces:
// fields[0] is field 3 of proc(5) (state).
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(std::move(f));
  return fields;
}

}  // namespace

void append_process_metrics(std::string& out) {
  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) append_sample(out, "process_open_fds", "gauge", fds);
  const auto f = stat_fields();
  // proc(5): utime 14, stime 15 (clock ticks), rss 24 (pages); fields[i] is field i + 3.
  if (f.size() > 21) {
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    // strtod, not stod: nothing on the scrape path throws.
    auto num = [&f](std::size_t i) { return std::strtod(f[i].c_str(), nullptr); };
    const double cpu = (num(11) + num(12)) / ticks;
    append_sample(out, "process_cpu_seconds_total", "counter", cpu);
    append_sample(out, "process_resident_memory_bytes", "gauge", num(21) * page);
  }
}

}  // namespace portcullis::observe
