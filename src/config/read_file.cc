// The one file reader of the config library (see read_file.h).
#include "config/read_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace portcullis::config {

bool read_file(const std::string& path, std::string& out, std::string& error,
               std::size_t max_bytes) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    error = std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    out.append(buf, n);
    if (out.size() > max_bytes) {
      error = "larger than " + std::to_string(max_bytes >> 20) + " MiB";
      return false;
    }
  }
  // A directory opens fine on Linux and only fails here, with EISDIR.
  if (std::ferror(f.get())) {
    error = std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace portcullis::config
