// The standard process metrics (process_open_fds, process_resident_memory_bytes,
// process_cpu_seconds_total), read from /proc/self at scrape time.
#pragma once

#include <string>

namespace portcullis::observe {

// Appends the three families with # HELP and # TYPE; a value that cannot be read is left out.
void append_process_metrics(std::string& out);

}  // namespace portcullis::observe
