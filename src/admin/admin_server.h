// The admin listener (loopback by default): /healthz (the process is up), /readyz (whether it
// should get traffic, as JSON naming each dependency that is not ready and why; 503 when a
// gating one is down or while draining) and /metrics (Prometheus text).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "config/config.h"
#include "runtime/readiness.h"

namespace portcullis::admin {

class AdminServer {
 public:
  // `ready` is asked on every /readyz.
  AdminServer(boost::asio::io_context& ioc, std::function<runtime::Readiness()> ready);
  ~AdminServer();

  // Binds and starts accepting; false with `error` set when the address is unusable.
  bool start(const config::ListenAddress& address, std::string& error);
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::admin
