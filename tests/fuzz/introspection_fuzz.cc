// Fuzzes the reading of an RFC 7662 introspection answer (IntrospectionClient::read) and the
// decision taken on it (OAuth2Provider::decide, with the rate_limit_claim read), as 200 and
// as 400 bodies. The provider is
// built once with a transport that is never called.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/oauth2/introspection_cache.h"
#include "auth/oauth2/introspection_client.h"
#include "auth/oauth2/oauth2_authenticator.h"
#include "identity/rate_plan.h"

namespace oauth2 = portcullis::auth::oauth2;
using portcullis::auth::Status;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

class NoTransport : public oauth2::IntrospectionTransport {
 public:
  void send(oauth2::HttpExchange, std::function<void(oauth2::HttpOutcome)>) override {
    __builtin_trap();  // decide() never calls the provider
  }
};

std::shared_ptr<oauth2::OAuth2Provider> make_provider(bool with_claims) {
  portcullis::config::OAuth2ProviderConfig cfg;
  cfg.name = with_claims ? "strict" : "plain";
  std::string why;
  if (!portcullis::config::parse_http_url("http://127.0.0.1:9/introspect",
                                          cfg.introspection_endpoint, why)) {
    __builtin_trap();
  }
  cfg.client_id = "gateway";
  cfg.client_secret = portcullis::config::Secret("s3cret");
  if (with_claims) {
    cfg.issuer = "https://idp.example";
    cfg.audiences = {"orders"};
    cfg.scopes_claim = "ext.scopes";
    cfg.roles_claim = "realm_access.roles";
    cfg.rate_limit_claim = "ext.plan";
  }
  oauth2::OAuth2Provider::Clocks clocks{[] { return oauth2::CircuitBreaker::Clock::now(); },
                                        [] { return kNow; }};
  return oauth2::OAuth2Provider::create(cfg, std::make_shared<NoTransport>(), clocks);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::array providers{make_provider(false), make_provider(true)};
  static const oauth2::TokenKey key = oauth2::token_key("fuzz-token");

  for (unsigned status : {200u, 400u}) {
    oauth2::HttpOutcome outcome;
    outcome.kind = oauth2::HttpOutcome::Kind::Response;
    outcome.status = status;
    outcome.body.assign(reinterpret_cast<const char*>(data), size);
    const oauth2::IntrospectionAnswer answer = oauth2::IntrospectionClient::read(outcome);
    (void)oauth2::result_label(answer);
    for (const auto& provider : providers) {
      const auto verdict = provider->decide(answer, key, kNow);
      if (!verdict.decision) __builtin_trap();
      // Never 200 for an answer that is not an active one.
      const auto& result = verdict.decision->result;
      if (result.status == Status::Ok && !answer.active()) __builtin_trap();
      // An identity that reaches the upstream can be written as header values.
      if (result.status == Status::Ok && !result.identity.header_safe()) __builtin_trap();
      // A plan taken from the answer is always within the grammar's bounds.
      if (const auto& plan = result.identity.rate_plan) {
        if (plan->requests == 0 || plan->requests > portcullis::identity::kMaxPlanRequests ||
            plan->per_s == 0 || plan->per_s > portcullis::identity::kMaxPlanWindowS) {
          __builtin_trap();
        }
      }
    }
  }
  return 0;
}
