// Readiness (/readyz): the evaluation and its JSON body, and what a runtime built from a config
// reports for its mechanisms: which dependency, why, and whether it gates.
#include "runtime/readiness.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "config/loader.h"
#include "runtime/runtime.h"

namespace portcullis::runtime {
namespace {

TEST(Readiness, ReadyUnlessAGatingDependencyIsDown) {
  Readiness all_up;
  EXPECT_TRUE(all_up.ready());
  EXPECT_EQ(all_up.json(), R"({"ready":true})");

  Readiness some_down{{{"jwt_providers.partners", "no keys yet", false}}};
  EXPECT_TRUE(some_down.ready());
  EXPECT_EQ(some_down.json(),
            R"({"ready":true,"not_ready":[{"dependency":"jwt_providers.partners",)"
            R"("reason":"no keys yet","gating":false}]})");

  some_down.not_ready.push_back({"oauth2_providers.idp", "circuit breaker open", true});
  EXPECT_FALSE(some_down.ready());
  EXPECT_EQ(some_down.json(),
            R"({"ready":false,"not_ready":[{"dependency":"jwt_providers.partners",)"
            R"("reason":"no keys yet","gating":false},{"dependency":"oauth2_providers.idp",)"
            R"("reason":"circuit breaker open","gating":true}]})");

  EXPECT_FALSE(Readiness::draining().ready());
  EXPECT_EQ(Readiness::draining().json(),
            R"({"ready":false,"not_ready":[{"dependency":"server","reason":"draining",)"
            R"("gating":true}]})");
}

// Providers whose identity provider is unreachable (port 1): JWKS and discovery never
// answer, so each stays not ready for as long as the test looks.
class RuntimeReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("PC_TEST_READY_SECRET", std::string(64, 's').c_str(), 1);
    setenv("PC_TEST_READY_PEPPER", "a-pepper-that-is-long-enough", 1);
    dir = std::filesystem::temp_directory_path() /
          ("pc-readiness-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::shared_ptr<const Runtime> build(const std::string& main_extra,
                                       std::shared_ptr<const Runtime> previous = nullptr) {
    const std::string yaml =
        "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
        "api_keys: { store: 'sqlite:keys.db', pepper: '${PC_TEST_READY_PEPPER}' }\n"
        "jwt_providers:\n"
        "  main: { issuer: m, audiences: [a], algorithms: [RS256], "
        "jwks_uri: 'http://127.0.0.1:1/jwks.json'" +
        main_extra +
        " }\n"
        "  partners: { issuer: p, audiences: [a], algorithms: [RS256], "
        "jwks_uri: 'http://127.0.0.1:1/jwks.json', gates_readiness: false }\n"
        "  local: { issuer: l, audiences: [a], algorithms: [HS256], "
        "secret: '${PC_TEST_READY_SECRET}' }\n"
        "  unused: { issuer: x, audiences: [a], algorithms: [RS256], "
        "jwks_uri: 'http://127.0.0.1:1/jwks.json' }\n"
        "oauth2_providers:\n"
        "  idp: { discovery: 'http://127.0.0.1:1/.well-known/openid-configuration', "
        "client_id: gw, client_secret: '${PC_TEST_READY_SECRET}' }\n"
        "routes:\n"
        "  - { name: a, match: { path_prefix: /a }, upstream: u, auth: [jwt:main, jwt:local] }\n"
        "  - { name: b, match: { path_prefix: /b }, upstream: u, auth: [jwt:partners] }\n"
        "  - { name: c, match: { path_prefix: /c }, upstream: u, auth: [oauth2:idp] }\n"
        "  - { name: d, match: { path_prefix: /d }, upstream: u, auth: [api_key] }\n";
    auto loaded = config::load_config_string(yaml, "gw.yaml", dir.string());
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].str());
    if (!loaded.ok()) return nullptr;
    std::string error;
    auto rt = build_runtime(loaded.config, std::move(previous), error);
    EXPECT_TRUE(rt) << error;
    return rt;
  }

  std::filesystem::path dir;
};

TEST_F(RuntimeReadinessTest, NamesEachDependencyThatIsNotReadyAndWhetherItGates) {
  auto rt = build("");
  ASSERT_TRUE(rt);
  const Readiness r = rt->readiness();
  // The static provider, the key store (readable) and the provider no route uses are not
  // listed; the order is api_keys, jwt providers, oauth2 providers, each by name.
  EXPECT_FALSE(r.ready());
  EXPECT_EQ(r.json(),
            R"({"ready":false,"not_ready":[)"
            R"({"dependency":"jwt_providers.main","reason":"no keys yet","gating":true},)"
            R"({"dependency":"jwt_providers.partners","reason":"no keys yet","gating":false},)"
            R"({"dependency":"oauth2_providers.idp","reason":"discovery not done yet",)"
            R"("gating":true}]})");
  // Never a URL or a secret.
  EXPECT_EQ(r.json().find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(r.json().find("sss"), std::string::npos);
}

TEST_F(RuntimeReadinessTest, GatingFollowsTheReloadedConfigWithoutReplacingTheProvider) {
  auto first = build("");
  ASSERT_TRUE(first);
  auto second = build(", gates_readiness: false", first);
  ASSERT_TRUE(second);
  // Only gates_readiness changed: the running provider (its keys, cache, fetches) is kept.
  EXPECT_EQ(second->jwt_providers.at("main"), first->jwt_providers.at("main"));
  const Readiness r = second->readiness();
  ASSERT_FALSE(r.not_ready.empty());
  EXPECT_EQ(r.not_ready[0].dependency, "jwt_providers.main");
  EXPECT_FALSE(r.not_ready[0].gating);
  EXPECT_FALSE(r.ready());  // oauth2_providers.idp still gates
}

}  // namespace
}  // namespace portcullis::runtime
