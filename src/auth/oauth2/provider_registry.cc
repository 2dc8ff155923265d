#include "auth/oauth2/provider_registry.h"

#include <map>
#include <mutex>

#include "auth/oauth2/http_transport.h"
#include "auth/oauth2/oauth2_authenticator.h"

namespace portcullis::auth::oauth2 {
namespace {

std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}

std::shared_ptr<IntrospectionTransport>& transport_slot() {
  static std::shared_ptr<IntrospectionTransport> t;
  return t;
}

}  // namespace

void set_default_transport(std::shared_ptr<IntrospectionTransport> transport) {
  std::lock_guard lock(registry_mutex());
  transport_slot() = std::move(transport);
}

std::shared_ptr<IntrospectionTransport> default_transport() {
  std::lock_guard lock(registry_mutex());
  if (!transport_slot()) transport_slot() = make_http_transport();
  return transport_slot();
}

std::shared_ptr<OAuth2Provider> open_provider(const config::OAuth2ProviderConfig& config) {
  static std::map<std::string, std::weak_ptr<OAuth2Provider>> running;
  auto transport = default_transport();
  std::lock_guard lock(registry_mutex());
  if (auto it = running.find(config.name); it != running.end()) {
    auto existing = it->second.lock();
    // Same settings (the position in the file does not matter) -> same provider.
    if (existing) {
      config::OAuth2ProviderConfig a = existing->config(), b = config;
      a.line = b.line = a.col = b.col = 0;
      if (a == b) return existing;
    }
  }
  auto provider = OAuth2Provider::create(config, std::move(transport));
  running[config.name] = provider;
  return provider;
}

}  // namespace portcullis::auth::oauth2
