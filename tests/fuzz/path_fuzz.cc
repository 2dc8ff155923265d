// Fuzzes request-target normalisation (proxy/path.h) and the URL path primitives under it
// (url/path.h), with the properties routing relies on: a normalised path starts with '/',
// holds no dot segment and no "//", and normalising it again changes nothing. The same bytes
// as a Host header go through route host matching (url/host_pattern.h): a wildcard matches
// only names under its domain, and a narrower wildcard only names the wider one matches.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/path.h"
#include "proxy/router.h"
#include "url/host_pattern.h"
#include "url/path.h"

using namespace portcullis;

namespace {

bool has_dot_segment(std::string_view p) {
  std::size_t i = 0;
  while (i < p.size()) {
    const std::size_t next = p.find('/', i + 1);
    const std::string_view seg =
        p.substr(i + 1, next == std::string_view::npos ? p.npos : next - i - 1);
    if (seg == "." || seg == "..") return true;
    if (next == std::string_view::npos) break;
    i = next;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  proxy::Target t;
  if (proxy::normalise_target(input, t) == proxy::TargetError::None) {
    if (t.path.empty() || t.path.front() != '/') __builtin_trap();
    if (t.path.find("//") != std::string::npos) __builtin_trap();
    if (has_dot_segment(t.path)) __builtin_trap();
    if (!t.has_query && !t.query.empty()) __builtin_trap();
  }

  (void)url::has_encoded_separator(input);
  const std::string merged = url::merge_slashes(input);
  if (merged.find("//") != std::string::npos) __builtin_trap();
  const std::string resolved = url::remove_dot_segments(input);
  if (resolved.empty() || resolved.front() != '/' || has_dot_segment(resolved)) __builtin_trap();
  const std::string once = url::normalise_path(input);
  if (url::normalise_path(once) != once) __builtin_trap();

  const std::string host = proxy::canonical_host(input);
  const bool under_eu = url::host_matches("*.eu.example.com", host);
  const bool under_domain = url::host_matches("*.example.com", host);
  if (under_domain && (host.size() <= 12 || !host.ends_with(".example.com"))) __builtin_trap();
  if (under_eu && !under_domain) __builtin_trap();
  if (url::host_matches("api.example.com", host) != (host == "api.example.com")) __builtin_trap();
  // The bytes as a route's host pattern.
  const bool wildcard = url::is_wildcard_host(input);
  if (wildcard != url::wildcard_host_problem(input).empty()) __builtin_trap();
  if (wildcard && !url::host_covers(input, input)) __builtin_trap();
  if (wildcard && url::host_matches(input, input.substr(2))) __builtin_trap();
  return 0;
}
