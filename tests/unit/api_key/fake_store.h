// An in-memory KeyStore for tests: rows, seq, and switches to make it fail or be "replaced".
#pragma once

#include <map>
#include <mutex>

#include "auth/api_key/key_format.h"
#include "auth/api_key/key_store.h"
#include "auth/api_key/secret_hash.h"

namespace portcullis::auth::api_key::testing {

struct StoredKey {
  std::string id, hmac, client_id, scopes, routes, cidrs, label, rate_limit;
  KeyStatus status = KeyStatus::Active;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at, last_used_at;
  std::int64_t seq = 0;
};

class FakeKeyStore : public KeyStore {
 public:
  struct Shared {
    std::mutex mu;
    std::map<std::string, StoredKey> rows;
    std::int64_t seq = 0;
    bool fail = false;
    bool replaced = false;  // next changes_since reports reset
    int polls = 0;
    std::vector<std::pair<std::string, std::int64_t>> usage;
  };
  explicit FakeKeyStore(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  std::string describe() const override { return "fake:"; }
  bool bind_pepper(const Digest&, std::string&) override { return true; }
  bool pepper_fingerprint(std::optional<Digest>& out, std::string&) override {
    out.reset();
    return true;
  }

  PollResult load_all(const RowVisitor& visit) override {
    std::lock_guard lock(s_->mu);
    PollResult r;
    r.reset = true;
    if (s_->fail) {
      r.error = "fake store is down";
      return r;
    }
    for (auto& [id, k] : s_->rows) visit(row(k));
    r.max_seq = s_->seq;
    r.ok = true;
    return r;
  }
  PollResult changes_since(std::int64_t seq, const RowVisitor& visit) override {
    std::lock_guard lock(s_->mu);
    ++s_->polls;
    PollResult r;
    if (s_->fail) {
      r.error = "fake store is down";
      return r;
    }
    r.reset = s_->replaced;
    s_->replaced = false;
    for (auto& [id, k] : s_->rows) {
      if (r.reset || k.seq > seq) visit(row(k));
    }
    r.max_seq = s_->seq;
    r.ok = true;
    return r;
  }
  bool record_usage(const std::vector<std::string>& ids, std::int64_t when,
                    std::string& error) override {
    std::lock_guard lock(s_->mu);
    if (s_->fail) {
      error = "fake store is down";
      return false;
    }
    for (const auto& id : ids) {
      s_->usage.emplace_back(id, when);
      if (auto it = s_->rows.find(id); it != s_->rows.end()) it->second.last_used_at = when;
    }
    return true;
  }
  bool list(std::optional<std::string_view>, std::vector<KeyInfo>&, std::string&) override {
    return false;
  }
  bool get(std::string_view, std::optional<KeyInfo>&, std::string&) override { return false; }
  WriteResult create(const NewKey&, std::string&) override { return WriteResult::Error; }
  WriteResult set_status(std::string_view, KeyStatus, std::string&) override {
    return WriteResult::Error;
  }
  WriteResult update(std::string_view, const KeyUpdate&, std::string&) override {
    return WriteResult::Error;
  }
  WriteResult rotate(std::string_view, std::int64_t, std::int64_t,
                     const std::function<NewKey(const KeyInfo&)>&, RotationPlan&,
                     std::string&) override {
    return WriteResult::Error;
  }
  WriteResult import_keys(const std::vector<KeyRecord>&, ImportCounts&, std::string&) override {
    return WriteResult::Error;
  }

 private:
  static KeyRow row(const StoredKey& k) {
    KeyRow r;
    r.id = k.id;
    r.secret_hmac = k.hmac;
    r.client_id = k.client_id;
    r.status = k.status;
    r.created_at = k.created_at;
    r.expires_at = k.expires_at;
    r.scopes = k.scopes;
    r.routes = k.routes;
    r.cidrs = k.cidrs;
    r.label = k.label;
    r.rate_limit = k.rate_limit;
    r.last_used_at = k.last_used_at;
    r.seq = k.seq;
    return r;
  }
  std::shared_ptr<Shared> s_;
};

// Makes a key, stores its HMAC under `pepper` in `shared`, returns the full key.
inline std::string add_key(FakeKeyStore::Shared& shared, std::string_view pepper, StoredKey k) {
  GeneratedKey g;
  generate_key(g);
  std::string error;
  auto hasher = SecretHasher::create(pepper, error);
  Digest d;
  hasher->hash(g.secret, d);
  std::lock_guard lock(shared.mu);
  k.id = g.id;
  k.hmac.assign(reinterpret_cast<const char*>(d.data()), d.size());
  k.seq = ++shared.seq;
  shared.rows[k.id] = k;
  return g.key;
}

inline void update(FakeKeyStore::Shared& shared, const std::string& id,
                   const std::function<void(StoredKey&)>& change) {
  std::lock_guard lock(shared.mu);
  change(shared.rows.at(id));
  shared.rows.at(id).seq = ++shared.seq;
}

}  // namespace portcullis::auth::api_key::testing
