// PgListener: the gateway's one listening connection. A thread of its own LISTENs on the
// key store's channel and reports each notification; when the connection is lost it
// reconnects with backoff (100 ms doubling to 2 s) and reports the reconnection, so the
// reader catches up on whatever changed while it was away (a notification sent meanwhile is
// lost for good: the sequence numbers are what make the catch-up complete).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "auth/api_key/pg_connection.h"

namespace portcullis::auth::api_key {

class PgListener {
 public:
  enum class Event { Connected, Notified, Lost };

  // Starts the thread. `on_event` runs on it.
  PgListener(PgConnectSpec spec, std::string channel, std::function<void(Event)> on_event);
  // Stops and joins the thread (a connection attempt in progress is abandoned at once).
  ~PgListener();
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

 private:
  void run();
  // Connects and LISTENs; null on failure (`error` set).
  std::unique_ptr<PgConnection> listen(std::string& error);
  // Waits for notifications until the connection is lost (`error` set) or stop.
  void serve(PgConnection& conn, std::string& error);
  // Sleeps `d` unless stopped first; false when stopped.
  bool pause(std::chrono::milliseconds d);

  PgConnectSpec spec_;
  std::string channel_;
  std::function<void(Event)> on_event_;
  int wake_fd_ = -1;  // eventfd: readable once stopping
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace portcullis::auth::api_key
