// Where a provider's verification keys come from. A static source (JWKS file, PEM key,
// secret) answers at once; a remote JWK set (jwks_cache.h) may have to fetch, which it does
// asynchronously: no request ever waits on a worker thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "jose/algorithms.h"
#include "jose/keys.h"

namespace portcullis::auth::jwt {

using jose::Alg;
using jose::Key;
using jose::KeySet;

enum class KeyLookup {
  Found,
  UnknownKey,   // no key with that kid (after a refetch, or within the refetch cooldown)
  NotReady,     // keys have never been fetched
  Unavailable,  // the last good keys are older than jwks_max_stale_s
  NeedFetch,    // only from try_lookup: the kid is unknown and a refetch may find it
};

struct LookupResult {
  KeyLookup status = KeyLookup::UnknownKey;
  std::shared_ptr<const Key> key;
};

class KeySource {
 public:
  virtual ~KeySource() = default;
  // Answers from what is in memory. NeedFetch means: call lookup_async.
  virtual LookupResult try_lookup(std::optional<std::string_view> kid, Alg alg) = 0;
  // Waits for (or starts) a refetch, then answers; `done` runs exactly once, on any thread,
  // possibly before this returns.
  virtual void lookup_async(std::optional<std::string> kid, Alg alg,
                            std::function<void(LookupResult)> done) = 0;
  // False until keys are known (remote sets before their first successful fetch).
  virtual bool ready() const = 0;
  // Why no token can be checked now, for /readyz (a fixed phrase, never a URL), or empty.
  virtual std::string_view not_ready_reason() const { return ready() ? "" : kNoKeysYet; }
  static constexpr std::string_view kNoKeysYet = "no keys yet";
  static constexpr std::string_view kKeysTooOld = "keys older than jwks_max_stale_s";
  // Begins background work (the first fetch, refreshes); idempotent.
  virtual void start() {}
};

// A fixed key set (jwks_file, public_key_file, secret).
class StaticKeySource : public KeySource {
 public:
  explicit StaticKeySource(KeySet keys) : keys_(std::move(keys)) {}
  LookupResult try_lookup(std::optional<std::string_view> kid, Alg alg) override {
    auto k = keys_.find(kid, alg);
    return {k ? KeyLookup::Found : KeyLookup::UnknownKey, std::move(k)};
  }
  void lookup_async(std::optional<std::string> kid, Alg alg,
                    std::function<void(LookupResult)> done) override {
    done(try_lookup(kid ? std::optional<std::string_view>(*kid) : std::nullopt, alg));
  }
  bool ready() const override { return true; }
  std::size_t size() const { return keys_.size(); }

 private:
  KeySet keys_;
};

}  // namespace portcullis::auth::jwt
