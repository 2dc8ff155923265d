#include <gtest/gtest.h>

#include <cstdlib>

#include "auth/api_key/key_store.h"
#include "config/loader.h"

namespace portcullis::auth::api_key {
namespace {

KeyInfo key(std::string id, std::int64_t created, KeyStatus st = KeyStatus::Active,
            std::optional<std::int64_t> expires = std::nullopt) {
  KeyInfo k;
  k.id = std::move(id);
  k.client_id = "c";
  k.created_at = created;
  k.status = st;
  k.expires_at = expires;
  k.scopes = "scope-of-" + k.id;
  return k;
}

TEST(Rotation, NewestUsableKeyIsTheTemplateAndEveryUsableKeyExpires) {
  std::vector<KeyInfo> keys = {key("old", 100),
                               key("newest", 300),
                               key("disabled", 400, KeyStatus::Disabled),
                               key("revoked", 500, KeyStatus::Revoked),
                               key("expired", 600, KeyStatus::Active, 900),
                               key("soon", 200, KeyStatus::Active, 1050),
                               key("later", 150, KeyStatus::Active, 999999)};
  RotationPlan p = plan_rotation(keys, 1000, 7 * 86400);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.template_key.id, "newest");
  EXPECT_EQ(p.template_key.scopes, "scope-of-newest");
  std::map<std::string, std::int64_t> expire(p.expire.begin(), p.expire.end());
  // "soon" already expires before the grace ends: left alone. Disabled, revoked and expired
  // keys are not touched.
  EXPECT_EQ(expire, (std::map<std::string, std::int64_t>{{"old", 1000 + 7 * 86400},
                                                         {"newest", 1000 + 7 * 86400},
                                                         {"later", 1000 + 7 * 86400}}));
}

TEST(Rotation, ZeroGraceExpiresNow) {
  RotationPlan p = plan_rotation({key("a", 1)}, 1000, 0);
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.expire.size(), 1u);
  EXPECT_EQ(p.expire[0].second, 1000);
  KeyInfo a = key("a", 1, KeyStatus::Active, 1000);
  EXPECT_FALSE(usable(a, 1000));
  EXPECT_EQ(effective_status(a, 1000), "expired");
  EXPECT_EQ(effective_status(a, 999), "active");
}

TEST(Rotation, NothingToRotate) {
  EXPECT_FALSE(plan_rotation({}, 1000, 60).ok);
  RotationPlan p =
      plan_rotation({key("r", 1, KeyStatus::Revoked), key("e", 1, KeyStatus::Active, 5)}, 1000, 60);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("no active key"), std::string::npos);
}

TEST(Rotation, TiesPreferTheLaterChange) {
  KeyInfo a = key("a", 100), b = key("b", 100);
  a.seq = 5;
  b.seq = 3;
  EXPECT_EQ(plan_rotation({a, b}, 1000, 60).template_key.id, "a");
}

// ---- The api_keys config section.

class ApiKeysConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("PC_TEST_PEPPER", "a-pepper-that-is-long-enough", 1); }
  config::LoadResult load(const std::string& yaml) {
    return config::load_config_string(yaml, "gw.yaml", "/etc/portcullis");
  }
  static std::string errors(const config::LoadResult& r) {
    std::string s;
    for (const auto& e : r.errors) s += e.str() + "\n";
    return s;
  }
  static constexpr const char* kRoutes = R"(
upstreams:
  reports: { url: "http://127.0.0.1:9000" }
routes:
  - { name: reports, match: { path_prefix: /v1/reports, methods: [GET] }, upstream: reports, auth: [api_key], require_scopes: [reports:read], api_key_query_param: api_key }
)";
};

TEST_F(ApiKeysConfigTest, TheIssuesExampleLoads) {
  auto r = load(std::string(R"(api_keys:
  header: X-API-Key
  store: sqlite:///var/lib/portcullis/keys.db
  pepper: ${PC_TEST_PEPPER}
  poll_interval_ms: 500
  gates_readiness: false
)") + kRoutes);
  ASSERT_TRUE(r.ok()) << errors(r);
  const auto& k = *r.config->api_keys;
  EXPECT_EQ(k.header, "X-API-Key");
  EXPECT_EQ(k.store_path, "/var/lib/portcullis/keys.db");
  EXPECT_EQ(k.pepper.reveal(), "a-pepper-that-is-long-enough");
  EXPECT_EQ(k.poll_interval_ms, 500u);
  EXPECT_FALSE(k.gates_readiness);
  EXPECT_EQ(r.config->routes[0].api_key_query_param, "api_key");
}

TEST_F(ApiKeysConfigTest, RelativeStoreResolvesAgainstTheConfigFile) {
  auto r = load(
      std::string("api_keys: { store: \"sqlite:keys/k.db\", pepper: \"${PC_TEST_PEPPER}\" }\n") +
      kRoutes);
  ASSERT_TRUE(r.ok()) << errors(r);
  EXPECT_EQ(r.config->api_keys->store_path, "/etc/portcullis/keys/k.db");
  EXPECT_EQ(r.config->api_keys->header, "X-API-Key");
  EXPECT_EQ(r.config->api_keys->poll_interval_ms, 1000u);
  EXPECT_TRUE(r.config->api_keys->gates_readiness);
}

TEST_F(ApiKeysConfigTest, MissingPepperIsAnErrorAtItsPosition) {
  unsetenv("PC_NO_SUCH_PEPPER");
  auto r = load(std::string("api_keys:\n  store: sqlite:k.db\n  pepper: ${PC_NO_SUCH_PEPPER}\n") +
                kRoutes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(errors(r),
            "gw.yaml:3:11: api_keys.pepper: environment variable 'PC_NO_SUCH_PEPPER' "
            "is not set\n");

  setenv("PC_EMPTY_PEPPER", "", 1);
  r = load(std::string("api_keys:\n  store: sqlite:k.db\n  pepper: ${PC_EMPTY_PEPPER}\n") +
           kRoutes);
  EXPECT_NE(errors(r).find("gw.yaml:3:11: api_keys.pepper: environment variable "
                           "'PC_EMPTY_PEPPER' is empty"),
            std::string::npos)
      << errors(r);

  r = load(std::string("api_keys:\n  store: sqlite:k.db\n") + kRoutes);
  EXPECT_NE(errors(r).find("gw.yaml:2:3: missing required key 'pepper' in api_keys"),
            std::string::npos)
      << errors(r);

  r = load(std::string("api_keys:\n  store: sqlite:k.db\n  pepper: \"\"\n") + kRoutes);
  EXPECT_NE(errors(r).find("gw.yaml:3:11: api_keys.pepper must not be empty"), std::string::npos)
      << errors(r);

  r = load(std::string("api_keys:\n  store: sqlite:k.db\n  pepper: hunter2hunter2hunter2\n") +
           kRoutes);
  EXPECT_NE(errors(r).find("must be a reference"), std::string::npos) << errors(r);

  setenv("PC_SHORT_PEPPER", "short", 1);
  r = load(std::string("api_keys:\n  store: sqlite:k.db\n  pepper: ${PC_SHORT_PEPPER}\n") +
           kRoutes);
  EXPECT_NE(errors(r).find("at least 16"), std::string::npos) << errors(r);
}

TEST_F(ApiKeysConfigTest, ApiKeyWithoutTheSectionIsAnError) {
  auto r = load(kRoutes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(errors(r).find("auth method 'api_key' is not available (no api_keys configured)"),
            std::string::npos)
      << errors(r);
}

TEST_F(ApiKeysConfigTest, BrokenSectionIsReportedOnce) {
  auto r = load(std::string("api_keys:\n  store: redis://db/keys\n  pepper: ${PC_TEST_PEPPER}\n") +
                kRoutes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors.size(), 1u) << errors(r);
  EXPECT_NE(errors(r).find("unsupported key store 'redis'"), std::string::npos) << errors(r);
}

TEST_F(ApiKeysConfigTest, BadValues) {
  auto expect_error = [&](const std::string& section, const std::string& needle) {
    auto r = load(section + kRoutes);
    EXPECT_FALSE(r.ok()) << section;
    EXPECT_NE(errors(r).find(needle), std::string::npos) << section << "\n" << errors(r);
  };
  // Flow style needs the reference quoted ({ and } are flow syntax).
  const std::string tail = ", pepper: \"${PC_TEST_PEPPER}\" }\n";
  expect_error("api_keys: { header: Authorization, store: sqlite:k.db" + tail,
               "cannot be Authorization");
  expect_error("api_keys: { header: X-Client-Id, store: sqlite:k.db" + tail,
               "is an identity header");
  expect_error("api_keys: { header: \"X API Key\", store: sqlite:k.db" + tail,
               "not a valid HTTP header name");
  expect_error("api_keys: { store: \"sqlite://host/k.db\"" + tail, "not a host");
  expect_error("api_keys: { store: \"sqlite:\"" + tail, "a file path is required");
  expect_error("api_keys: { store: sqlite:k.db, poll_interval_ms: 5" + tail,
               "'poll_interval_ms' must be between 100 and 60000");
  expect_error("api_keys: { store: sqlite:k.db, pepers: x" + tail, "did you mean 'pepper'");
  expect_error("api_keys: { store: sqlite:k.db, gates_readiness: no" + tail,
               "must be true or false");
}

TEST_F(ApiKeysConfigTest, QueryParamNeedsApiKeyAuth) {
  auto r = load(R"(
upstreams:
  reports: { url: "http://127.0.0.1:9000" }
routes:
  - { name: open, match: { path: /x }, upstream: reports, auth: none, api_key_query_param: api_key }
  - { name: bad, match: { path: /y }, upstream: reports, auth: none, api_key_query_param: "a b" }
)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(errors(r).find("gw.yaml:5:92: 'api_key_query_param' needs api_key in the route's auth"),
            std::string::npos)
      << errors(r);
  EXPECT_NE(errors(r).find("may only use letters"), std::string::npos) << errors(r);
}

}  // namespace
}  // namespace portcullis::auth::api_key
