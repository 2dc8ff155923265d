// Redis replies as values, and the reader that makes them from the bytes Redis sends. The
// RESP protocol itself is hiredis's (its redisReader); this file only gives the reader
// functions that build `Reply` values, with bounds: an array may hold at most
// kMaxArrayElements elements and a reply kMaxReplyBytes bytes of strings, anything larger is a
// protocol error (the gateway's replies are a few integers). Pure: no I/O, fuzzed
// (tests/fuzz/redis_reply_fuzz.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::redis {

struct Reply {
  enum class Type : std::uint8_t { String, Status, Error, Integer, Nil, Array };
  Type type = Type::Nil;
  std::string str;              // String, Status, Error
  long long integer = 0;        // Integer
  std::vector<Reply> elements;  // Array

  bool is_error() const { return type == Type::Error; }
};

inline constexpr std::size_t kMaxArrayElements = 1024;
inline constexpr std::size_t kMaxReplyBytes = 1 << 20;

// Feeds bytes as they arrive and takes complete replies out. Once it has failed it stays
// failed (the connection must be dropped: the stream can no longer be trusted).
class ReplyReader {
 public:
  ReplyReader();
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  // False when the reader has failed (see error()).
  bool feed(std::string_view bytes);
  // The next complete reply; nullopt when more bytes are needed or the reader failed.
  std::optional<Reply> next();
  bool failed() const { return !error_.empty(); }
  // What went wrong, for logs: hiredis's message (never the reply's bytes).
  const std::string& error() const { return error_; }

  struct State;

 private:
  std::unique_ptr<State> state_;
  std::string error_;
};

}  // namespace portcullis::redis
