#include "jose/strict_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <unordered_set>
#include <vector>

namespace portcullis::jose {
namespace {

namespace json = boost::json;
using json::error_code;
using json::string_view;

// Boost.JSON's own value-building handler (detail/handler.hpp), plus a record of the member
// names seen in each open object.
struct StrictHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // The stack's scratch space starts in a per-thread buffer (a JWT header or payload
  // rarely needs more), so building the value does not allocate for it.
  explicit StrictHandler(unsigned char* temp, std::size_t temp_size)
      : st(json::storage_ptr(), temp, temp_size) {}

  json::value_stack st;
  // One entry per container being parsed; objects keep their member names. A JOSE header or
  // a JWK has a handful, compared in a short scan; past kScanNames the names move to a hash
  // set, so a crafted object of many members costs linear time, not quadratic.
  static constexpr std::size_t kScanNames = 16;
  struct Frame {
    bool object = false;
    std::vector<std::string> names;
    std::unordered_set<std::string> many;

    // False when `name` was already seen in this object.
    bool insert(std::string&& name) {
      if (!many.empty()) return many.insert(std::move(name)).second;
      for (const auto& n : names) {
        if (n == name) return false;
      }
      names.push_back(std::move(name));
      if (names.size() > kScanNames) {
        many.reserve(names.size() * 2);
        for (auto& n : names) many.insert(std::move(n));
        names.clear();
      }
      return true;
    }
    std::size_t size() const { return many.empty() ? names.size() : many.size(); }
  };
  std::vector<Frame> frames;
  std::string key_prefix;   // a member name that arrives in pieces
  std::size_t members = 0;  // in the whole document
  bool duplicate = false;
  bool too_many = false;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    frames.emplace_back().object = true;
    return true;
  }
  bool on_object_end(std::size_t n, error_code&) {
    frames.pop_back();
    st.push_object(n);
    return true;
  }
  bool on_array_begin(error_code&) {
    frames.emplace_back();
    return true;
  }
  bool on_array_end(std::size_t n, error_code&) {
    frames.pop_back();
    st.push_array(n);
    return true;
  }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    key_prefix.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code& ec) {
    std::string name = std::move(key_prefix);
    key_prefix.clear();
    name.append(s.data(), s.size());
    Frame& frame = frames.back();
    if (frame.size() >= kMaxObjectMembers || ++members > kMaxTotalMembers) {
      too_many = true;
      ec = json::error::syntax;  // stops the parser
      return false;
    }
    if (!frame.insert(std::move(name))) {
      duplicate = true;
      ec = json::error::syntax;
      return false;
    }
    st.push_key(s);
    return true;
  }
  bool on_string_part(string_view s, std::size_t, error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(string_view s, std::size_t, error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t i, string_view, error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, string_view, error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, string_view, error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }
};

}  // namespace

JsonError parse_strict(std::string_view text, json::value& out, std::size_t max_depth,
                       json::storage_ptr sp) {
  json::parse_options opts;
  opts.max_depth = max_depth;
  thread_local unsigned char temp[4096];
  json::basic_parser<StrictHandler> p(opts, temp, sizeof temp);
  p.handler().st.reset(std::move(sp));
  error_code ec;
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (p.handler().duplicate) return JsonError::DuplicateMember;
  if (p.handler().too_many) return JsonError::TooManyMembers;
  if (ec || n != text.size() || !p.done()) return JsonError::Syntax;
  out = p.handler().st.release();
  return JsonError::None;
}

JsonError parse_strict_object(std::string_view text, json::object& out, std::size_t max_depth,
                              json::storage_ptr sp) {
  // Everything on the caller's storage, so that the results move instead of being copied.
  json::value v(sp);
  JsonError e = parse_strict(text, v, max_depth, sp);
  if (e != JsonError::None) return e;
  if (!v.is_object()) return JsonError::NotAnObject;
  out = std::move(v.get_object());
  return JsonError::None;
}

}  // namespace portcullis::jose
