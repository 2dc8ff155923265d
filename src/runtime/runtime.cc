#include "runtime/runtime.h"

namespace portcullis::runtime {

bool Runtime::ready() const {
  for (const auto& a : authenticators) {
    if (!a->ready()) return false;
  }
  return true;
}

std::shared_ptr<const Runtime> build_runtime(std::shared_ptr<const config::Config> config,
                                             std::string& error) {
  auto rt = std::make_shared<Runtime>();
  rt->config = config;
  rt->router = proxy::Router(config->routes);
  rt->sanitizer = identity::Sanitizer(config->identity, {});
  rt->access_log =
      observe::AccessLog::open(config->log.access, config->log.redact_query_params, error);
  if (!rt->access_log) return nullptr;
  for (const auto& route : config->routes) {
    RouteRuntime r;
    r.config = &route;
    r.upstream = &config->upstreams.at(route.upstream);
    // Mechanisms (api_key, jwt:NAME, oauth2:NAME) are added here as they are built; the
    // loader refuses any method this build does not have.
    r.policy = policy::RoutePolicy(route);
    std::string challenges;
    for (const auto& scheme : r.chain.challenges()) {
      if (!challenges.empty()) challenges += ", ";
      challenges += scheme + " realm=\"portcullis\"";
    }
    r.www_authenticate_missing = std::move(challenges);
    rt->routes.push_back(std::move(r));
  }
  return rt;
}

void RuntimeHolder::set(std::shared_ptr<const Runtime> rt) {
  std::lock_guard lock(mu_);
  current_ = std::move(rt);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const Runtime> RuntimeHolder::get() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace portcullis::runtime
