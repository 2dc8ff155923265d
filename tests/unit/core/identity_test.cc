#include <gtest/gtest.h>

#include "identity/forwarder.h"
#include "identity/request_id.h"
#include "identity/sanitizer.h"

namespace portcullis::identity {
namespace {

namespace http = boost::beast::http;

std::vector<std::string> names(const http::fields& f) {
  std::vector<std::string> out;
  for (const auto& h : f) out.emplace_back(h.name_string());
  return out;
}

TEST(Sanitizer, RemovesIdentityHeadersInEverySpelling) {
  config::IdentityConfig cfg;
  cfg.strip_inbound = {"X-Scopes", "X-Subject"};
  Sanitizer s(cfg, {"X-Tenant"});
  http::fields f;
  for (const char* n :
       {"X-User-Id", "x-user-id", "X-USER-ID", "x_user_id", "X_User_Id", "X-Client-Id",
        "x-user-scopes", "X-User-Roles", "x_auth_method", "X-Scopes", "x_subject", "x-tenant"}) {
    f.insert(n, "forged");
  }
  f.insert("Accept", "*/*");
  f.insert("X-Request-Id", "abc");
  f.insert("x-request-id", "abc");
  // The request id's own name is kept for the session to judge; other spellings are not.
  f.insert("X_Request_Id", "forged");
  f.insert("x-request_id", "forged");
  EXPECT_EQ(s.sanitize(f), 14u);
  EXPECT_EQ(names(f), (std::vector<std::string>{"Accept", "X-Request-Id", "x-request-id"}));
}

// Fields Beast knows by name (Host, Authorization, ...) are kept without being looked up,
// unless one of them is configured as an identity header or in strip_inbound.
TEST(Sanitizer, StripsAFieldBeastKnowsOnlyWhenConfigured) {
  http::fields f;
  f.insert("Host", "a");
  f.insert("From", "forged");
  f.insert("FROM", "forged");
  f.insert("Authorization", "Bearer x");
  EXPECT_EQ(Sanitizer(config::IdentityConfig{}, {}).sanitize(f), 0u);
  EXPECT_EQ(names(f).size(), 4u);
  config::IdentityConfig cfg;
  cfg.strip_inbound = {"from"};
  EXPECT_EQ(Sanitizer(cfg, {}).sanitize(f), 2u);
  EXPECT_EQ(names(f), (std::vector<std::string>{"Host", "Authorization"}));
  config::IdentityConfig renamed;
  renamed.headers.user_id = "Forwarded";  // an identity header with a name Beast knows
  f.insert("forwarded", "forged");
  f.insert("X-User-Id", "forged");  // no longer an identity header
  EXPECT_EQ(Sanitizer(renamed, {}).sanitize(f), 1u);
  EXPECT_EQ(names(f), (std::vector<std::string>{"Host", "Authorization", "X-User-Id"}));
  // A request id configured with '_': its other spelling is a name Beast knows, and is
  // stripped (an upstream reading '_' as '-' would see two ids); its own spelling is kept.
  config::IdentityConfig message_id;
  message_id.headers.request_id = "Message_ID";
  http::fields g;
  g.insert("Message-ID", "forged");
  g.insert("message_id", "kept-for-the-session-to-judge");
  g.insert("Host", "a");
  EXPECT_EQ(Sanitizer(message_id, {}).sanitize(g), 1u);
  EXPECT_EQ(names(g), (std::vector<std::string>{"message_id", "Host"}));
}

TEST(Sanitizer, LeavesLookalikesAlone) {
  Sanitizer s(config::IdentityConfig{}, {});
  http::fields f;
  f.insert("X-User-Idx", "1");
  f.insert("X-User", "1");
  EXPECT_EQ(s.sanitize(f), 0u);
  EXPECT_EQ(names(f).size(), 2u);
}

TEST(Forwarder, SetsIdentityAndDropsAuthorizationByDefault) {
  http::fields f;
  f.insert(http::field::authorization, "Bearer x");
  Identity id;
  id.subject = "42";
  id.client_id = "app";
  id.scopes = {"orders:read", "orders:write"};
  id.roles = {"admin"};
  id.auth_method = "jwt";
  id.extra_headers = {{"X-Tenant", "t1"}};
  std::string lines;
  ASSERT_TRUE(forward_identity(f, lines, id, config::IdentityHeaders{}, "rid-1", {}));
  EXPECT_EQ(f.count(http::field::authorization), 0u);
  EXPECT_EQ(f.count("X-Request-Id"), 0u);  // written as a line, after the identity
  EXPECT_EQ(lines,
            "X-User-Id: 42\r\n"
            "X-Client-Id: app\r\n"
            "X-User-Scopes: orders:read orders:write\r\n"
            "X-User-Roles: admin\r\n"
            "X-Auth-Method: jwt\r\n"
            "X-Tenant: t1\r\n"
            "X-Request-Id: rid-1\r\n");
}

TEST(Forwarder, UsesConfiguredHeaderNames) {
  http::fields f;
  config::IdentityHeaders names;
  names.client_id = "X-Caller";
  Identity id;
  id.client_id = "partner-123";
  id.auth_method = "api-key";
  std::string lines;
  ASSERT_TRUE(forward_identity(f, lines, id, names, "rid", {}));
  EXPECT_EQ(lines, "X-Caller: partner-123\r\nX-Auth-Method: api-key\r\nX-Request-Id: rid\r\n");
}

TEST(Forwarder, KeepsAuthorizationWhenTheRouteAsks) {
  http::fields f;
  f.insert(http::field::authorization, "Bearer x");
  std::string lines;
  ASSERT_TRUE(forward_identity(f, lines, Identity{}, config::IdentityHeaders{}, "rid", {true}));
  EXPECT_EQ(f[http::field::authorization], "Bearer x");
  // Anonymous: the request id alone, no empty identity headers.
  EXPECT_EQ(lines, "X-Request-Id: rid\r\n");
}

TEST(Forwarder, RefusesValuesThatWouldSplitAHeader) {
  const std::vector<std::string> bad_values = {"a\r\nX-Admin: 1", "a\nb", std::string("a\0b", 3),
                                               "a\x7f"};
  for (const auto& bad : bad_values) {
    Identity id;
    id.auth_method = "oauth2";
    id.subject = bad;
    http::fields f;
    std::string lines;
    EXPECT_FALSE(forward_identity(f, lines, id, config::IdentityHeaders{}, "rid", {}));
    EXPECT_EQ(lines, "");
  }
  Identity scoped;
  scoped.scopes = {"ok", "bad\r\n"};
  EXPECT_FALSE(scoped.header_safe());
  Identity extra;
  extra.extra_headers = {{"X-Tenant", "t\n1"}};
  EXPECT_FALSE(extra.header_safe());
}

// An identity that serves many requests (a connection's memo) is rendered once per runtime:
// the next request appends the kept lines; another runtime (a reload may rename the headers)
// renders again; an unsafe identity is never kept.
TEST(Forwarder, KeepsARenderingPerRuntime) {
  Identity id;
  id.subject = "42";
  id.scopes = {"a", "b"};
  id.auth_method = "jwt";
  RenderedIdentity kept;
  ForwardOptions options;
  options.rendered = &kept;
  options.runtime_id = 7;
  http::fields f;
  std::string lines = "Host: x\r\n";
  ASSERT_TRUE(forward_identity(f, lines, id, config::IdentityHeaders{}, "r1", options));
  EXPECT_EQ(lines,
            "Host: x\r\nX-User-Id: 42\r\nX-User-Scopes: a b\r\nX-Auth-Method: jwt\r\n"
            "X-Request-Id: r1\r\n");
  EXPECT_EQ(kept.runtime_id, 7u);
  EXPECT_EQ(kept.lines, "X-User-Id: 42\r\nX-User-Scopes: a b\r\nX-Auth-Method: jwt\r\n");

  // White-box: the kept lines are what the next request gets (the memo empties them when
  // its identity changes); the request id is the request's own.
  id.subject = "changed";
  lines.clear();
  ASSERT_TRUE(forward_identity(f, lines, id, config::IdentityHeaders{}, "r2", options));
  EXPECT_EQ(lines,
            "X-User-Id: 42\r\nX-User-Scopes: a b\r\nX-Auth-Method: jwt\r\n"
            "X-Request-Id: r2\r\n");

  // Another runtime, other names: rendered again.
  config::IdentityHeaders renamed;
  renamed.user_id = "X-Subject";
  options.runtime_id = 8;
  lines.clear();
  ASSERT_TRUE(forward_identity(f, lines, id, renamed, "r3", options));
  EXPECT_EQ(lines,
            "X-Subject: changed\r\nX-User-Scopes: a b\r\nX-Auth-Method: jwt\r\n"
            "X-Request-Id: r3\r\n");
  EXPECT_EQ(kept.runtime_id, 8u);

  // Never kept: an identity that cannot be forwarded, or no runtime id.
  RenderedIdentity none;
  options.rendered = &none;
  id.subject = "a\r\nX-Admin: 1";
  lines.clear();
  EXPECT_FALSE(forward_identity(f, lines, id, config::IdentityHeaders{}, "r4", options));
  EXPECT_EQ(none.runtime_id, 0u);
  EXPECT_EQ(none.lines, "");
  id.subject = "42";
  options.runtime_id = 0;
  ASSERT_TRUE(forward_identity(f, lines, id, config::IdentityHeaders{}, "r5", options));
  EXPECT_EQ(none.runtime_id, 0u);
}

TEST(RequestId, AcceptsOnlySafeValues) {
  EXPECT_TRUE(is_acceptable_request_id("abc-123_X.y"));
  EXPECT_TRUE(is_acceptable_request_id(std::string(128, 'a')));
  EXPECT_FALSE(is_acceptable_request_id(std::string(129, 'a')));
  EXPECT_FALSE(is_acceptable_request_id(""));
  EXPECT_FALSE(is_acceptable_request_id("a b"));
  EXPECT_FALSE(is_acceptable_request_id("a\"b"));
}

TEST(RequestId, GeneratedIdsAreUniqueAndAcceptable) {
  auto a = generate_request_id(), b = generate_request_id();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_TRUE(is_acceptable_request_id(a));
}

}  // namespace
}  // namespace portcullis::identity
