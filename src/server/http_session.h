// HttpSession: one client connection. Reads a request head, checks it, routes it, runs the
// route's auth chain and policy, relays the request to the upstream and the response back,
// streaming bodies in both directions; then the next request on the same connection.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>

#include "proxy/upstream_pool.h"

namespace portcullis::server {

class Worker;

class HttpSession {
 public:
  // Runs the connection to its end on the worker's executor.
  static void start(proxy::Socket socket, Worker& worker);

  // Called by the worker's sweeper: past its deadline, the session's pending operations are
  // cancelled and it sees a timeout.
  void check_deadline(std::chrono::steady_clock::time_point now);
  // Called when draining: a connection waiting for its next request is closed at once.
  void close_idle();
  // Called at the drain deadline: the connection (and its upstream) is closed; a request in
  // flight ends and is logged with reason drain_timeout.
  void cut();

  struct Impl;
  struct Parked;

 private:
  explicit HttpSession(std::unique_ptr<Impl> impl);
  // Runs the connection's coroutine on `impl_`; `resumed`: taken up again after parking.
  static void spawn(std::shared_ptr<HttpSession> self, bool resumed);
  // After an exception ended the connection's coroutine: what its normal end does.
  void end_after_error();
  // A connection waiting for its next request parks: its coroutine ends, `impl_` (the
  // request's state, ~2 KiB, and the coroutine frames) is freed, and only `parked_` (the
  // connection: socket, TLS, peer, credential memo) waits for the socket to be readable.
  static void park(std::shared_ptr<HttpSession> self);
  static void unpark(std::shared_ptr<HttpSession> self, boost::system::error_code ec);
  // Closes a parked connection; false when it is not parked.
  bool close_parked();
  // The sweeper's pass over a parked connection: past its idle deadline, its wait ends.
  void check_parked_deadline(std::chrono::steady_clock::time_point now);

  std::unique_ptr<Impl> impl_;      // null while parked
  std::unique_ptr<Parked> parked_;  // null while running
};

}  // namespace portcullis::server
