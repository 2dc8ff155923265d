// Reading a whole file named in the config (the config itself, key files, secret files).
#pragma once

#include <cstddef>
#include <limits>
#include <string>

namespace portcullis::config {

// Replaces `out` with the file's bytes. False with `error` set (errno's text, or "larger
// than N MiB" past `max_bytes`) when it cannot be read.
bool read_file(const std::string& path, std::string& out, std::string& error,
               std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

}  // namespace portcullis::config
