// HttpSession: one client connection. Reads a request head, checks it, routes it, runs the
// route's auth chain and policy, relays the request to the upstream and the response back,
// streaming bodies in both directions; then the next request on the same connection.
#pragma once

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

 private:
  explicit HttpSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::server
