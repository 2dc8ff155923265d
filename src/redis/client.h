// An asynchronous Redis client on its own thread: one connection, commands pipelined in
// order, every call answered within its timeout. Callers never wait on it: call() queues and
// returns, and the callback runs on the client's thread. Asio lives in client.cc only.
//
// The connection: resolve, connect, then AUTH (when a password is set), SELECT (db != 0) and
// PING, all answered, before any call is written. While connecting, calls wait (within their
// timeout); once a connection attempt has failed the client is down and calls fail at once
// (`Unavailable`) until the next attempt succeeds; attempts are retried with backoff (100 ms
// doubling to 5 s), so a Redis that comes back is picked up without a restart. A connection on
// which a call stays unanswered for `dead_after` is closed and replaced (a hung Redis answers
// nothing).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/secret.h"
#include "redis/reply.h"

namespace portcullis::redis {

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string username;     // Redis 6 ACL user; empty: AUTH with the password only
  config::Secret password;  // empty: no AUTH
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds dead_after{1000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
};

enum class CallError : std::uint8_t {
  None,         // `reply` holds Redis's answer (which may be an error reply)
  Unavailable,  // not connected (Redis down, refused, or AUTH/SELECT failed)
  Timeout,      // no answer within the call's timeout
  Closed,       // the connection dropped before the answer
};
std::string_view to_string(CallError e);

struct CallResult {
  CallError error = CallError::None;
  Reply reply;
  bool ok() const { return error == CallError::None; }
};

using CallDone = std::function<void(CallResult)>;

class Client {
 public:
  // Starts the thread and the first connection attempt.
  explicit Client(ClientOptions options);
  ~Client();  // stop()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `args` (command name first). `done` runs exactly once on the client's thread, at
  // the latest `timeout` after this call (never inline). After stop(): never.
  void call(std::vector<std::string> args, std::chrono::milliseconds timeout, CallDone done);
  // Whether the connection is up and authenticated (any thread; for metrics and tests).
  bool connected() const;
  // Ends the thread; pending callbacks are dropped.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::redis
