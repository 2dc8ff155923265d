// What was built: the version, the git commit and the CMake build type, fixed when CMake
// configured the build folder (CMakeLists.txt).
#pragma once

#include <string_view>

namespace portcullis::observe {

struct BuildInfo {
  std::string_view version;
  std::string_view commit;  // `git rev-parse --short HEAD`, "unknown" outside a git checkout
  std::string_view build_type;
};

const BuildInfo& build_info();

}  // namespace portcullis::observe
