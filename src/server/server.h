// Server: the worker threads and their listeners, the admin listener, and the signals
// (SIGHUP reloads, SIGTERM/SIGINT drain and stop).
#pragma once

#include <memory>
#include <string>

#include "config/config.h"

namespace portcullis::server {

class Server {
 public:
  explicit Server(std::string config_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until SIGTERM/SIGINT and the drain are over. Returns the process exit code.
  int run(std::shared_ptr<const config::Config> initial);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::server
