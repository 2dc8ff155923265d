// Tests for the signed identity context (identity/context_signer.h, context_cache.h): the
// claims, the signature checked against the published JWKS, the cache's keying, freshness and
// bound with an injected clock, per-request signing, the forwarder writing the header, and
// what `check` says about key files.
#include "identity/context_signer.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>

#include "config/loader.h"
#include "identity/forwarder.h"
#include "jose/keys.h"
#include "jose/token.h"
#include "jose/verifier.h"

namespace portcullis::identity {
namespace {

namespace json = boost::json;

std::string new_private_pem(const char* type, const char* group = nullptr) {
  EVP_PKEY* key = group ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, group)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

config::SignedContextConfig settings(config::ContextAlg alg = config::ContextAlg::EdDSA) {
  config::SignedContextConfig c;
  c.issuer = "https://gateway.example.test";
  c.algorithm = alg;
  const bool ed = alg == config::ContextAlg::EdDSA;
  for (const char* kid : {"new", "old"}) {
    config::ContextKeyConfig k;
    k.kid = kid;
    k.key_file = std::string("file:") + kid + ".pem";
    k.pem = config::Secret(ed ? new_private_pem("ED25519") : new_private_pem("EC", "P-256"));
    c.keys.push_back(std::move(k));
  }
  return c;
}

Identity user() {
  Identity id;
  id.subject = "alice";
  id.client_id = "web";
  id.scopes = {"orders:read", "orders:write"};
  id.roles = {"admin"};
  id.auth_method = "jwt";
  return id;
}

struct Checked {
  json::object header;
  json::object claims;
};

// Parses the token and verifies its signature with the signer's own JWKS.
Checked verify(const ContextSigner& signer, const std::string& token) {
  jose::Token t;
  EXPECT_EQ(jose::parse_token(token, 8192, t), jose::TokenError::None) << token;
  jose::KeySet keys;
  std::vector<std::string> skipped;
  std::string error;
  EXPECT_TRUE(jose::parse_jwks(signer.jwks(), keys, skipped, error)) << error;
  const auto alg = jose::parse_alg(t.header.at("alg").as_string());
  EXPECT_TRUE(alg.has_value());
  auto key = keys.find(std::string_view(t.header.at("kid").as_string()), *alg);
  EXPECT_NE(key, nullptr);
  if (key) {
    EXPECT_EQ(jose::verify_signature(*alg, *key, t.signing_input, t.signature),
              jose::SignatureCheck::Valid);
  }
  // Copied out of the token's arena, which dies with it.
  return {json::object(t.header, json::storage_ptr()),
          json::object(t.payload, json::storage_ptr())};
}

class ContextSignerTest : public ::testing::Test {
 protected:
  std::shared_ptr<const ContextSigner> make(config::SignedContextConfig c) {
    std::string error;
    auto s = ContextSigner::create(c, error, [this] { return now_; });
    EXPECT_NE(s, nullptr) << error;
    return s;
  }
  std::string token(const ContextSigner& s, const Identity& id, std::string_view aud = "orders",
                    std::string_view rid = "rid-1") {
    std::string out;
    EXPECT_TRUE(s.write_token(out, id, aud, rid));
    return out;
  }
  std::int64_t now_ = 1'800'000'000;
};

TEST_F(ContextSignerTest, ClaimsSayWhoTheGatewayFoundSignedWithTheFirstKey) {
  for (auto alg : {config::ContextAlg::EdDSA, config::ContextAlg::ES256}) {
    auto s = make(settings(alg));
    const auto c = verify(*s, token(*s, user()));
    EXPECT_EQ(c.header.at("kid").as_string(), "new");
    EXPECT_EQ(c.header.at("typ").as_string(), "JWT");
    EXPECT_EQ(c.claims.at("iss").as_string(), "https://gateway.example.test");
    EXPECT_EQ(c.claims.at("aud").as_string(), "orders");
    EXPECT_EQ(c.claims.at("sub").as_string(), "alice");
    EXPECT_EQ(c.claims.at("client_id").as_string(), "web");
    EXPECT_EQ(c.claims.at("scope").as_string(), "orders:read orders:write");
    EXPECT_EQ(json::serialize(c.claims.at("roles")), R"(["admin"])");
    EXPECT_EQ(json::serialize(c.claims.at("amr")), R"(["jwt"])");
    EXPECT_EQ(c.claims.at("iat").as_int64(), now_);
    EXPECT_EQ(c.claims.at("exp").as_int64(), now_ + 60);
    // Cached mode: the token outlives the request, so it names none.
    EXPECT_FALSE(c.claims.contains("rid"));
  }
}

TEST_F(ContextSignerTest, JwksPublishesEveryKeyWithoutPrivateParts) {
  auto s = make(settings());
  auto set = json::parse(s->jwks()).as_object();
  const auto& keys = set.at("keys").as_array();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].as_object().at("kid").as_string(), "new");
  EXPECT_EQ(keys[1].as_object().at("kid").as_string(), "old");
  for (const auto& k : keys) EXPECT_FALSE(k.as_object().contains("d"));
}

TEST_F(ContextSignerTest, ARepeatedIdentityIsServedFromTheCacheUntilHalfItsLife) {
  auto s = make(settings());
  const std::string first = token(*s, user());
  now_ += 29;
  EXPECT_EQ(token(*s, user(), "orders", "another-request"), first);
  now_ += 1;  // 30 s of 60 gone: signed anew
  const std::string second = token(*s, user());
  EXPECT_NE(second, first);
  EXPECT_EQ(verify(*s, second).claims.at("iat").as_int64(), now_);
  EXPECT_EQ(s->cache().size(), 1u);
}

TEST_F(ContextSignerTest, EveryClaimAndTheUpstreamAreInTheCacheKey) {
  auto s = make(settings());
  const std::string base = token(*s, user());
  std::vector<Identity> others(6, user());
  others[0].subject = "bob";
  others[1].client_id = "cli";
  others[2].scopes = {"orders:read"};
  others[3].roles = {};
  others[4].auth_method = "api-key";
  others[5].roles = {"admin", ""};
  for (const auto& other : others) {
    const std::string t = token(*s, other);
    EXPECT_NE(t, base);
    const auto c = verify(*s, t);
    EXPECT_EQ(c.claims.at("amr").as_array()[0].as_string(), other.auth_method);
  }
  const auto other_upstream = verify(*s, token(*s, user(), "billing"));
  EXPECT_EQ(other_upstream.claims.at("aud").as_string(), "billing");
  EXPECT_EQ(s->cache().size(), 8u);
}

TEST_F(ContextSignerTest, TheCacheIsBounded) {
  auto c = settings();
  c.cache_entries = 32;
  auto s = make(c);
  for (int i = 0; i < 500; ++i) {
    Identity id = user();
    id.subject = "user-" + std::to_string(i);
    token(*s, id);
  }
  EXPECT_LE(s->cache().size(), 32u);
  EXPECT_GT(s->cache().size(), 0u);
}

TEST_F(ContextSignerTest, PerRequestSigningCarriesTheRequestId) {
  auto c = settings();
  c.per_request = true;
  auto s = make(c);
  const auto a = verify(*s, token(*s, user(), "orders", "req-a"));
  const auto b = verify(*s, token(*s, user(), "orders", "req-b"));
  EXPECT_EQ(a.claims.at("rid").as_string(), "req-a");
  EXPECT_EQ(b.claims.at("rid").as_string(), "req-b");
  EXPECT_EQ(s->cache().size(), 0u);
}

TEST_F(ContextSignerTest, AnonymousContextOnlyWhenAsked) {
  Identity nobody;
  EXPECT_FALSE(make(settings())->signs(nobody));
  auto c = settings();
  c.anonymous = true;
  auto s = make(c);
  ASSERT_TRUE(s->signs(nobody));
  const auto claims = verify(*s, token(*s, nobody)).claims;
  EXPECT_FALSE(claims.contains("sub"));
  EXPECT_FALSE(claims.contains("client_id"));
  EXPECT_TRUE(claims.at("amr").as_array().empty());
}

TEST_F(ContextSignerTest, ForwarderWritesTheHeaderLine) {
  auto s = make(settings());
  boost::beast::http::fields fields;
  std::string lines;
  config::IdentityHeaders names;
  ASSERT_TRUE(
      forward_identity(fields, lines, user(), names, "rid-9",
                       {.forward_authorization = false, .signer = s.get(), .audience = "orders"}));
  const std::string prefix = "X-Identity-Token: ";
  const auto at = lines.find(prefix);
  ASSERT_NE(at, std::string::npos) << lines;
  const auto end = lines.find("\r\n", at);
  const std::string t = lines.substr(at + prefix.size(), end - at - prefix.size());
  EXPECT_EQ(verify(*s, t).claims.at("sub").as_string(), "alice");
  // An anonymous request gets none unless `anonymous` says so.
  lines.clear();
  ASSERT_TRUE(
      forward_identity(fields, lines, Identity{}, names, "rid-9",
                       {.forward_authorization = false, .signer = s.get(), .audience = "orders"}));
  EXPECT_EQ(lines.find(prefix), std::string::npos);
}

TEST_F(ContextSignerTest, CreateRefusesAKeyThatDoesNotSuitTheAlgorithm) {
  auto c = settings(config::ContextAlg::EdDSA);
  c.keys[1].pem = config::Secret(new_private_pem("EC", "P-256"));
  std::string error;
  EXPECT_EQ(ContextSigner::create(c, error), nullptr);
  EXPECT_NE(error.find("key 'old' (file:old.pem)"), std::string::npos) << error;
  EXPECT_NE(error.find("EdDSA needs an Ed25519 key"), std::string::npos) << error;
}

TEST(CheckSignedContextTest, EachUnusableKeyIsReportedAtItsKeyFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pc-ctx-check-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ed.pem") << new_private_pem("ED25519");
  std::ofstream(dir / "ec.pem") << new_private_pem("EC", "P-256");
  std::ofstream(dir / "junk.pem") << "not a key\n";
  const std::string yaml =
      "upstreams: { echo: { url: http://127.0.0.1:9001 } }\n"
      "identity:\n"
      "  signed_context:\n"
      "    issuer: https://gw.test\n"
      "    keys:\n"
      "      - { kid: a, key_file: file:ed.pem }\n"
      "      - { kid: b, key_file: file:ec.pem }\n"
      "      - { kid: c, key_file: file:junk.pem }\n"
      "routes:\n"
      "  - { name: all, match: { path_prefix: / }, upstream: echo, auth: none }\n";
  auto r = config::load_config_string(yaml, "t.yaml", dir.string());
  ASSERT_TRUE(r.ok());
  config::check_loaded(r, "t.yaml", check_signed_context);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].str(),
            "t.yaml:7:29: identity.signed_context key 'b': the key is EC prime256v1, but EdDSA "
            "needs an Ed25519 key");
  EXPECT_EQ(r.errors[1].line, 8);
  EXPECT_NE(r.errors[1].message.find("not a PEM private key"), std::string::npos);
}

}  // namespace
}  // namespace portcullis::identity
