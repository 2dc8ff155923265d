// Header rules for proxying, each applied in one pass over a message's fields: hop-by-hop
// headers (RFC 9110 §7.6.1) are removed in both directions, and the headers the gateway
// itself writes (Host and X-Forwarded-* upstream, the request id and the framing downstream)
// are appended as ready lines that the head writer adds after the message's own fields.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/optional/optional.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::proxy {

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
// Proxy-Authenticate, Proxy-Authorization.
bool is_hop_by_hop(boost::beast::http::field f);

// Removes Connection and the headers it names, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Authenticate and Proxy-Authorization. A name listed in
// Connection never removes the framing (Content-Length), Host, or `keep` (the gateway's own
// headers): a client cannot make the gateway forward a body without its length. Framing
// (chunked) is re-applied by the caller, not copied.
void remove_hop_by_hop(boost::beast::http::fields& headers, std::string_view keep = {});

struct UpstreamHead {
  std::string_view peer_ip;  // the connection's peer (TCP, or the PROXY protocol header)
  // The peer is a trusted proxy (client_address.h): its X-Forwarded-* and Forwarded headers
  // are passed on. From any other peer they are dropped and the gateway writes its own.
  bool peer_trusted = false;
  std::string_view proto;          // "http" or "https"
  std::string_view upstream_host;  // the Host the upstream is sent
  bool chunked = false;            // the body is sent chunked
  // The length the parser framed the body by (none when chunked or without a body).
  boost::optional<std::uint64_t> content_length;
  // Dropped in the same walk (identity::forward_identity is then told so): Authorization, and
  // the header named `drop_name` (the request id, which the gateway writes itself).
  bool drop_authorization = false;
  std::string_view drop_name;
};

// Prepares a request's fields for the upstream: hop-by-hop headers removed, Host removed;
// X-Forwarded-For is the inbound list (from a trusted peer only) extended with the peer's
// address; X-Forwarded-Proto and X-Forwarded-Host are the gateway's own unless a trusted peer
// sent them; Forwarded (RFC 7239) is passed on from a trusted peer only.
// The framing is never copied: every Content-Length field goes, and the lines carry the one
// framing the gateway parsed ("Content-Length: N" or "Transfer-Encoding: chunked"), so the
// upstream cannot frame the body otherwise. Appends the Host, X-Forwarded-* and framing lines
// to `lines`; returns the Host the client sent in `original_host` (copied: the field is gone).
void rewrite_request_head(boost::beast::http::fields& headers, const UpstreamHead& head,
                          std::string& original_host, std::string& lines);

// Every X-Forwarded-For line of a request joined with ", " (empty when there is none).
std::string joined_forwarded_for(const boost::beast::http::fields& headers);

// The lines the gateway adds to a response for the client: the request id, Connection when
// the version's default does not hold, and Transfer-Encoding.
void append_response_lines(std::string_view request_id_name, std::string_view request_id,
                           unsigned version, bool keep_alive, bool chunked, std::string& lines);

}  // namespace portcullis::proxy
