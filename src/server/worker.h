// Worker: one thread, one io_context, its own upstream pool and its own view of the current
// runtime. Sessions run on exactly one worker, so nothing here needs a lock.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <unordered_set>
#include <vector>

#include "proxy/upstream_pool.h"
#include "runtime/runtime.h"

namespace portcullis::server {

class HttpSession;

// Shared by all workers.
struct ServerState {
  runtime::RuntimeHolder runtime;
  std::atomic<bool> shutting_down{false};  // SIGTERM received: /readyz fails from now on
  std::atomic<bool> draining{false};       // the listener is closed: sessions finish and end
  std::atomic<long> active_sessions{0};
  std::atomic<long> active_requests{0};
};

class Worker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Worker(ServerState& state) : state_(state), pool_(ioc_) {}

  boost::asio::io_context& ioc() { return ioc_; }
  proxy::UpstreamPool& pool() { return pool_; }
  ServerState& state() { return state_; }
  bool draining() const { return state_.draining.load(std::memory_order_relaxed); }

  // The current runtime; re-read only when a reload has bumped the version.
  const std::shared_ptr<const runtime::Runtime>& runtime() {
    const auto v = state_.runtime.version();
    if (v != version_) {
      current_ = state_.runtime.get();
      version_ = v;
    }
    return current_;
  }

  // A coarse clock (updated by the sweeper every kSweepInterval) for session deadlines, so
  // the request path reads no clock and arms no timer per operation.
  Clock::time_point now() const { return now_; }
  static constexpr std::chrono::milliseconds kSweepInterval{50};

  // Every live session on this worker; the sweeper checks their deadlines, draining closes
  // the idle ones.
  std::unordered_set<HttpSession*>& sessions() { return sessions_; }
  // Runs forever on this worker: refreshes now() and enforces deadlines.
  boost::asio::awaitable<void> sweep();
  // Closes the sessions that are waiting for a next request (draining).
  void close_idle_sessions();
  // At the drain deadline: cuts every session; a request in flight is logged as cut.
  void cut_sessions();

  // Body buffers are taken per request, not per connection, so idle keep-alive
  // connections cost no buffer memory.
  std::unique_ptr<char[]> take_buffer() {
    if (buffers_.empty()) return std::unique_ptr<char[]>(new char[kBodyBufferSize]);
    auto b = std::move(buffers_.back());
    buffers_.pop_back();
    return b;
  }
  void give_buffer(std::unique_ptr<char[]> b) {
    if (b && buffers_.size() < 64) buffers_.push_back(std::move(b));
  }
  static constexpr std::size_t kBodyBufferSize = 64 * 1024;

 private:
  ServerState& state_;
  // One thread runs it, and only that thread touches its sockets (other threads post to it),
  // so the reactor needs no per-descriptor lock; posting still locks the scheduler.
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  proxy::UpstreamPool pool_;
  std::shared_ptr<const runtime::Runtime> current_;
  std::uint64_t version_ = ~0ull;
  Clock::time_point now_ = Clock::now();
  std::unordered_set<HttpSession*> sessions_;
  std::vector<std::unique_ptr<char[]>> buffers_;
};

}  // namespace portcullis::server
