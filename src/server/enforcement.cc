// Shadow mode's decision (enforcement.h).
#include "server/enforcement.h"

namespace portcullis::server {

ShadowVerdict would_refuse(config::Enforcement mode, const Refusal& refusal,
                           bool credential_accepted) {
  if (mode != config::Enforcement::Shadow || !refusal.caller_verdict) return {};
  return {.forward = true, .with_identity = credential_accepted};
}

}  // namespace portcullis::server
