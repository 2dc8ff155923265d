// The one file reader of the config library, and the check of a folder files are written
// into (see read_file.h).
#include "config/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace portcullis::config {
namespace {

std::string size_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool read_file(const std::string& path, std::string& out, std::string& error,
               std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. The type is
  // checked on the opened descriptor, so the file cannot be swapped after the check.
  Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    error = std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = S_ISDIR(st.st_mode) ? std::strerror(EISDIR)
                                : "not a regular file (a FIFO, device or socket could be "
                                  "endless)";
    return false;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    error = "larger than " + size_text(max_bytes);
    return false;
  }
  out.clear();
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    // A file that grows while it is read (a log written meanwhile) stops at the cap too.
    if (out.size() > max_bytes) {
      error = "larger than " + size_text(max_bytes);
      return false;
    }
  }
  return true;
}

bool folder_writable(const std::string& path, std::string& error) {
  // A path, not a string assigned a literal: GCC 12's -Wrestrict false positive.
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = std::filesystem::path(".");
  struct stat st {};
  int err = 0;
  if (::stat(folder.c_str(), &st) != 0) {
    err = errno;
  } else if (!S_ISDIR(st.st_mode)) {
    err = ENOTDIR;
  } else if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    err = errno;
  }
  if (err == 0) return true;
  error = "folder " + folder.string() + ": " + std::strerror(err);
  return false;
}

}  // namespace portcullis::config
