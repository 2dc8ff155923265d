#include "observe/access_log.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

namespace portcullis::observe {

namespace json = boost::json;

// Lines are buffered and written by a background thread every 100 ms (or when the buffer
// grows large), so a request never waits on the disk or a pipe. Sinks are shared by
// target, so a reload that keeps the same file keeps one writer.
struct AccessLog::Sink {
  std::FILE* file = nullptr;
  bool owned = false;
  std::mutex mu;
  std::condition_variable cv;
  std::string pending;
  bool stop = false;
  std::thread writer;

  explicit Sink(std::FILE* f, bool own) : file(f), owned(own) {
    writer = std::thread([this] { run(); });
  }
  ~Sink() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_one();
    writer.join();
    if (owned) std::fclose(file);
  }
  void append(std::string_view line) {
    bool wake = false;
    {
      std::lock_guard lock(mu);
      pending.append(line);
      wake = pending.size() > (256u << 10);
    }
    if (wake) cv.notify_one();
  }
  void flush_now() {
    std::string out;
    {
      std::lock_guard lock(mu);
      out.swap(pending);
    }
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), file);
      std::fflush(file);
    }
  }
  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      std::string out;
      out.swap(pending);
      const bool done = stop;
      lock.unlock();
      if (!out.empty()) {
        std::fwrite(out.data(), 1, out.size(), file);
        std::fflush(file);
      }
      if (done) return;
      lock.lock();
    }
  }
};

namespace {

std::mutex g_sinks_mu;
std::map<std::string, std::weak_ptr<AccessLog::Sink>> g_sinks;

std::string utc_now() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = time_point_cast<seconds>(now);
  const auto ms = duration_cast<milliseconds>(now - secs).count();
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

std::shared_ptr<AccessLog> AccessLog::open(const std::string& target, Redactor redactor,
                                           std::string& error) {
  std::shared_ptr<AccessLog> log(new AccessLog);
  log->redactor_ = std::move(redactor);
  if (target == "off") return log;
  std::lock_guard lock(g_sinks_mu);
  auto& weak = g_sinks[target];
  auto sink = weak.lock();
  if (!sink) {
    if (target == "stdout") {
      sink = std::make_shared<Sink>(stdout, false);
    } else if (target == "stderr") {
      sink = std::make_shared<Sink>(stderr, false);
    } else {
      std::FILE* f = std::fopen(target.c_str(), "a");
      if (!f) {
        error = "cannot open access log " + target;
        return nullptr;
      }
      sink = std::make_shared<Sink>(f, true);
    }
    weak = sink;
  }
  log->sink_ = std::move(sink);
  log->enabled_ = true;
  return log;
}

AccessLog::~AccessLog() = default;

void AccessLog::flush() {
  if (sink_) sink_->flush_now();
}

void AccessLog::write(const AccessEntry& e) {
  if (!enabled_) return;
  json::object o;
  o.reserve(18);
  o["time"] = utc_now();
  o["request_id"] = e.request_id;
  o["method"] = e.method;
  // The path is scanned for credential shapes (a memchr-speed search, no decoding unless a
  // segment has a JWS's two dots); the query only when there is one.
  if (std::string masked; redactor_.mask(e.path, masked)) {
    o["path"] = masked;
  } else {
    o["path"] = e.path;
  }
  if (!e.query.empty()) o["query"] = redactor_.query(e.query);
  o["status"] = e.status;
  o["route"] = e.route;
  o["upstream"] = e.upstream;
  // Integers: Boost.JSON writes doubles in exponent form, which log tools read poorly.
  o["duration_ms"] = static_cast<std::int64_t>(e.duration_ms + 0.5);
  o["duration_us"] = static_cast<std::int64_t>(e.duration_ms * 1000 + 0.5);
  o["host"] = e.host;
  if (std::string masked; redactor_.mask(e.user_agent, masked)) {
    o["user_agent"] = masked;
  } else {
    o["user_agent"] = e.user_agent;
  }
  if (e.upstream_status != 0) {
    o["upstream_status"] = e.upstream_status;
  } else {
    o["upstream_status"] = nullptr;
  }
  // Like duration_ms/duration_us: whole numbers, which every log pipeline reads alike.
  if (e.upstream_ms >= 0) {
    o["upstream_ms"] = static_cast<std::int64_t>(e.upstream_ms + 0.5);
    o["upstream_us"] = static_cast<std::int64_t>(e.upstream_ms * 1000 + 0.5);
  } else {
    o["upstream_ms"] = nullptr;
    o["upstream_us"] = nullptr;
  }
  o["client_ip"] = e.client_ip;
  o["peer_ip"] = e.peer_ip;
  o["client_id"] = e.client_id;
  o["user_id"] = e.user_id;
  o["auth_method"] = e.auth_method;
  if (!e.credential_id.empty()) o["credential_id"] = e.credential_id;
  o["reason"] = e.reason;
  o["bytes_in"] = e.bytes_in;
  o["bytes_out"] = e.bytes_out;
  std::string line = json::serialize(o);
  line.push_back('\n');
  sink_->append(line);
}

}  // namespace portcullis::observe
