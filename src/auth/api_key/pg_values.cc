#include "auth/api_key/pg_values.h"

#include <charconv>

#include "common/concat.h"

namespace portcullis::auth::api_key::pg {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Big-endian integers of the binary format; `p` has at least N bytes.
std::uint32_t be32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

constexpr std::string_view kSignature("PGCOPY\n\xff\r\n\0", 11);

}  // namespace

bool decode_bytea(std::string_view text, std::string& out) {
  out.clear();
  if (!text.starts_with("\\x") || text.size() % 2 != 0) return false;
  out.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) {
      out.clear();
      return false;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string encode_bytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool parse_int64(std::string_view text, std::int64_t& out) {
  if (text.empty()) return false;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  out = v;
  return true;
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    for (char c : item) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

void append_copy_row(std::string& out, const std::vector<std::optional<std::string>>& fields) {
  bool first = true;
  for (const auto& f : fields) {
    if (!first) out.push_back('\t');
    first = false;
    if (!f) {
      out += "\\N";
      continue;
    }
    for (char c : *f) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out.push_back(c);
      }
    }
  }
  out.push_back('\n');
}

std::string qualified(std::string_view schema, std::string_view name) {
  return concat({"\"", schema, "\".", name});
}

bool binary_int64(std::string_view bytes, std::int64_t& out) {
  if (bytes.size() != 8) return false;
  std::uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  out = static_cast<std::int64_t>(v);
  return true;
}

void CopyBinaryReader::feed(std::string_view bytes) {
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

CopyBinaryReader::Step CopyBinaryReader::fail(std::string message) {
  error_ = std::move(message);
  return Step::Error;
}

CopyBinaryReader::Step CopyBinaryReader::next(Fields& fields) {
  if (!error_.empty()) return Step::Error;
  if (ended_) return pos_ == buf_.size() ? Step::End : fail("data after the COPY trailer");
  std::string_view in(buf_);
  if (!header_done_) {
    // Signature, flags (4 bytes), header extension length (4 bytes) and extension.
    if (in.size() - pos_ < kSignature.size() + 8) return Step::NeedMore;
    if (in.substr(pos_, kSignature.size()) != kSignature) return fail("not binary COPY data");
    const std::uint32_t ext = be32(in.data() + pos_ + kSignature.size() + 4);
    if (ext > (1u << 20)) return fail("COPY header extension too long");
    if (in.size() - pos_ < kSignature.size() + 8 + ext) return Step::NeedMore;
    pos_ += kSignature.size() + 8 + ext;
    header_done_ = true;
  }
  if (in.size() - pos_ < 2) return Step::NeedMore;
  const auto count = static_cast<std::int16_t>((static_cast<unsigned char>(in[pos_]) << 8) |
                                               static_cast<unsigned char>(in[pos_ + 1]));
  if (count == -1) {
    pos_ += 2;
    ended_ = true;
    return pos_ == buf_.size() ? Step::End : fail("data after the COPY trailer");
  }
  if (count < 0) return fail("bad COPY field count");
  std::size_t p = pos_ + 2;
  fields.clear();
  for (int i = 0; i < count; ++i) {
    if (in.size() - p < 4) return Step::NeedMore;
    const auto len = static_cast<std::int32_t>(be32(in.data() + p));
    p += 4;
    if (len == -1) {
      fields.emplace_back(std::nullopt);
      continue;
    }
    if (len < 0) return fail("bad COPY field length");
    if (in.size() - p < static_cast<std::size_t>(len)) return Step::NeedMore;
    fields.emplace_back(in.substr(p, static_cast<std::size_t>(len)));
    p += static_cast<std::size_t>(len);
  }
  pos_ = p;
  return Step::Row;
}

}  // namespace portcullis::auth::api_key::pg
