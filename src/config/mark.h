// A position in the config file, for diagnostics: the one position type of the config
// library (the YAML reader, every section and the values that keep where they were written).
#pragma once

namespace portcullis::config {

// 1-based; line 0 means "no position" (a default, or the file as a whole).
struct Mark {
  int line = 0;
  int col = 0;
  friend bool operator==(const Mark&, const Mark&) = default;
};

}  // namespace portcullis::config
