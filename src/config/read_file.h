// Reading a whole file named in the config (the config itself, key files, secret files), and
// whether a file the config names for writing (the access log, the key store) can be made.
#pragma once

#include <cstddef>
#include <string>

namespace portcullis::config {

// Caps on what a config may make the gateway read. A file past its cap is refused, never
// truncated: /dev/zero or a runaway log named by mistake must not hang `check` or a reload.
inline constexpr std::size_t kMaxConfigFileBytes = 16u << 20;
inline constexpr std::size_t kMaxKeyFileBytes = 1u << 20;  // PEM keys, JWK sets
inline constexpr std::size_t kMaxSecretFileBytes = 64u << 10;

// Replaces `out` with the file's bytes. False with `error` set when it cannot be read:
// errno's text, "not a regular file" (a FIFO, device, socket or directory: opened without
// blocking and refused before any read), or "larger than N KiB/MiB" past `max_bytes`.
bool read_file(const std::string& path, std::string& out, std::string& error,
               std::size_t max_bytes);

// Whether the process may create files in the folder `path` goes into (".": the working
// folder): it exists, is a folder, and is writable and searchable. False with `error` set
// to "folder F: " and errno's text. Checked without creating anything (for `check`).
bool folder_writable(const std::string& path, std::string& error);

}  // namespace portcullis::config
