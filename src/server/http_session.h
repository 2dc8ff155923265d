// HttpSession: one client connection. Reads a request head, checks it, routes it, runs the
// route's auth chain and policy, relays the request to the upstream and the response back,
// streaming bodies in both directions; then the next request on the same connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace portcullis::server {

class Worker;

class HttpSession {
 public:
  // Runs the connection to its end on the worker's executor.
  static void start(boost::asio::ip::tcp::socket socket, Worker& worker);

  // Called by the worker when draining: an idle connection is closed at once.
  void close_idle();

  struct Impl;

 private:
  explicit HttpSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::server
