// The admin listener (loopback by default): /healthz (the process is up), /readyz (whether it
// should get traffic, as JSON naming each dependency that is not ready and why; 503 when a
// gating one is down or while draining), /metrics (Prometheus text) and, with
// identity.signed_context, /.well-known/jwks.json (the keys upstreams verify its tokens with).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "config/config.h"
#include "runtime/readiness.h"

namespace portcullis::admin {

class AdminServer {
 public:
  // `ready` is asked on every /readyz, `jwks` on every /.well-known/jwks.json (empty: no
  // signed context, 404).
  AdminServer(boost::asio::io_context& ioc, std::function<runtime::Readiness()> ready,
              std::function<std::string()> jwks = {});
  ~AdminServer();

  // Binds and starts accepting; false with `error` set when the address is unusable.
  bool start(const config::ListenAddress& address, std::string& error);
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::admin
