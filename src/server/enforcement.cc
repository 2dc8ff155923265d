// Shadow mode's decision (enforcement.h).
#include "server/enforcement.h"

namespace portcullis::server {

bool would_refuse(config::Enforcement mode, const Refusal& refusal) {
  return mode == config::Enforcement::Shadow && refusal.caller_verdict;
}

}  // namespace portcullis::server
