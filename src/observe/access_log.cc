#include "observe/access_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "config/read_file.h"
#include "observe/utc_time.h"

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
        error = "cannot open access log " + target + ": " + std::strerror(errno);
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

bool AccessLog::check_target(const std::string& target, std::string& why) {
  if (target == "off" || target == "stdout" || target == "stderr") return true;
  const std::string what = "cannot open access log " + target + ": ";
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      why = what + std::strerror(errno);
      return false;
    }
    // Created on open: the folder must let it be.
    if (config::folder_writable(target, why)) return true;
    why = what + why;
    return false;
  }
  const int err = S_ISDIR(st.st_mode) ? EISDIR : ::access(target.c_str(), W_OK) != 0 ? errno : 0;
  if (err == 0) return true;
  why = what + std::strerror(err);
  return false;
}

AccessLog::~AccessLog() = default;

void AccessLog::flush() {
  if (sink_) sink_->flush_now();
}

namespace {

// The length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) {
  const auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return p + i < end && p[i] >= lo && p[i] <= hi;
  };
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// Boost.JSON writes a string's bytes as they are, and a client's Host, User-Agent or path can
// hold any byte above 0x7f: one that is not UTF-8 made the line invalid JSON to strict readers
// (found by an acceptance check). Such bytes can only stand inside a string, where each is
// written as the escape \ufffd (U+FFFD). Lines that are ASCII are only scanned.
void make_valid_utf8(std::string& line) {
  const auto* p = reinterpret_cast<const unsigned char*>(line.data());
  const auto* end = p + line.size();
  const auto* first_high = std::find_if(p, end, [](unsigned char c) { return c >= 0x80; });
  if (first_high == end) return;
  std::string out(line.data(), static_cast<std::size_t>(first_high - p));
  for (const unsigned char* q = first_high; q < end;) {
    const std::size_t n = utf8_sequence(q, end);
    if (n == 0) {
      out += "\\ufffd";
      ++q;
    } else {
      out.append(reinterpret_cast<const char*>(q), n);
      q += n;
    }
  }
  line = std::move(out);
}

}  // namespace

void AccessLog::write(const AccessEntry& e) {
  if (!enabled_) return;
  json::object o;
  o.reserve(18);
  o["time"] = format_utc(std::chrono::system_clock::now());
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
  if (!e.upstream.empty()) {
    o["upstream"] = e.upstream;
  } else {
    o["upstream"] = nullptr;
  }
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
  if (!e.rate_limit.empty()) o["rate_limit"] = e.rate_limit;
  if (e.would_status != 0) {
    o["shadow"] = true;
    o["would_status"] = e.would_status;
    o["would_reason"] = e.would_reason;
  }
  o["bytes_in"] = e.bytes_in;
  o["bytes_out"] = e.bytes_out;
  std::string line = json::serialize(o);
  make_valid_utf8(line);
  line.push_back('\n');
  sink_->append(line);
}

}  // namespace portcullis::observe
