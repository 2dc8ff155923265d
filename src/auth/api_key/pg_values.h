// How values travel to and from PostgreSQL in text format: the few conversions the
// PostgreSQL key store needs, pure (no libpq) so they are unit-tested and fuzzed alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth::api_key::pg {

// A bytea in hex output format ("\x0a1b..."): the raw bytes. False when malformed.
bool decode_bytea(std::string_view text, std::string& out);
// Raw bytes as a bytea parameter in text format ("\x0a1b...").
std::string encode_bytea(std::string_view bytes);

// A bigint's text (optional '-', decimal digits). False when malformed or out of range.
bool parse_int64(std::string_view text, std::int64_t& out);

// A text[] parameter: {"a","b"} with '"' and '\' escaped.
std::string text_array(const std::vector<std::string>& items);

// One row for COPY ... FROM STDIN (text format): fields joined by tabs, '\', tab, newline
// and carriage return escaped, a missing value written as \N, ended by a newline.
void append_copy_row(std::string& out, const std::vector<std::optional<std::string>>& fields);

// "schema"."name": a schema name checked by config::check_schema_name needs no escaping.
std::string qualified(std::string_view schema, std::string_view name);

// A bigint in binary format (8 bytes, big-endian). False when not 8 bytes.
bool binary_int64(std::string_view bytes, std::int64_t& out);

// Reads COPY ... TO STDOUT (FORMAT binary) as it arrives, piece by piece: the signature and
// header, then tuples (a field count, then each field's length, -1 for NULL, and bytes), then
// the trailer (-1). Every length is checked against what is there.
class CopyBinaryReader {
 public:
  enum class Step { Row, NeedMore, End, Error };
  using Fields = std::vector<std::optional<std::string_view>>;

  void feed(std::string_view bytes);
  // The next tuple into `fields` (views into the reader, valid until the next feed()).
  Step next(Fields& fields);
  const std::string& error() const { return error_; }

 private:
  Step fail(std::string message);
  std::string buf_;
  std::size_t pos_ = 0;
  bool header_done_ = false;
  bool ended_ = false;
  std::string error_;
};

}  // namespace portcullis::auth::api_key::pg
