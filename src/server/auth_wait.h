// AuthWait: where a mechanism's answer meets the session (server/answer_wait.h). Most
// answers are synchronous (an API key lookup, a cached token): they are taken on the spot
// and the coroutine never suspends. An asynchronous answer (a JWKS fetch, an introspection
// call) may arrive on any thread; it resumes the coroutine on the session's own executor.
#pragma once

#include "auth/authenticator.h"
#include "server/answer_wait.h"

namespace portcullis::server {

using AuthWait = AnswerWait<auth::AuthResult>;

}  // namespace portcullis::server
