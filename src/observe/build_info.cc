// Only this file sees the commit, so a new commit recompiles one file, not the whole tree.
#include "observe/build_info.h"

namespace portcullis::observe {

const BuildInfo& build_info() {
  static constexpr BuildInfo kInfo{PORTCULLIS_VERSION, PORTCULLIS_COMMIT, PORTCULLIS_BUILD_TYPE};
  return kInfo;
}

}  // namespace portcullis::observe
