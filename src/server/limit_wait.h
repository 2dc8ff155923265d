// LimitWait: where a shared rate limiter's answer meets the session (server/answer_wait.h),
// as AuthWait does for the auth chain. The local store answers inline and never uses it; a
// shared store may answer later on any thread, which resumes the coroutine on the session's
// own executor.
#pragma once

#include <vector>

#include "ratelimit/limiter.h"
#include "server/answer_wait.h"

namespace portcullis::server {

using LimitWait = AnswerWait<std::vector<ratelimit::Outcome>>;

}  // namespace portcullis::server
