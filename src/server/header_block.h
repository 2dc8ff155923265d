// Lexical checks on the raw request head, before Beast parses it. Beast is lenient where a
// gateway must not be: a head that two parsers could read differently (obs-fold, bare CR or
// LF, control characters) is refused, so the upstream never sees a request the gateway
// understood differently.
#pragma once

#include <cstddef>
#include <string_view>

namespace portcullis::server {

enum class HeadCheck {
  Ok,
  BareCR,       // CR not followed by LF
  BareLF,       // LF not preceded by CR
  ObsFold,      // a header line continued with leading whitespace
  ControlChar,  // NUL or another control character (other than HTAB)
};

// Finds the end of the head ("\r\n\r\n"): returns the length including it, or 0 when the
// head is not complete yet. Leading empty lines (RFC 9112 §2.2) are not part of the head;
// `skip` receives how many bytes of them precede it.
std::size_t find_head_end(std::string_view data, std::size_t& skip);

// `head` is the whole head including its final CRLF CRLF. Every check above.
HeadCheck check_head(std::string_view head);

// What Beast accepts and the gateway must not: a line not ended by CRLF, and obs-fold. A
// control character or a bare CR inside a line Beast refuses itself (a unit test holds it to
// that), so a head is checked byte by byte only once Beast has refused it, to name why
// (check_head); a head that parses is read once, by Beast.
HeadCheck check_head_lines(std::string_view head);

}  // namespace portcullis::server
