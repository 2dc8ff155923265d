// HMAC-SHA-256(pepper, secret): how a key's secret is stored and checked. OpenSSL does the
// MAC; comparison is constant-time (CRYPTO_memcmp).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

namespace portcullis::auth::api_key {

using Digest = std::array<unsigned char, 32>;

class SecretHasher {
 public:
  // Null with `error` set when OpenSSL cannot provide HMAC-SHA-256.
  static std::unique_ptr<SecretHasher> create(std::string_view pepper, std::string& error);
  ~SecretHasher();
  SecretHasher(const SecretHasher&) = delete;
  SecretHasher& operator=(const SecretHasher&) = delete;

  // Thread-safe: each thread works on its own copy of the keyed context.
  bool hash(std::string_view secret, Digest& out) const;
  // A value that identifies the pepper without revealing it, stored with the keys so that a
  // gateway or CLI started with another pepper is refused instead of failing every key.
  bool fingerprint(Digest& out) const;

  struct Impl;

 private:
  explicit SecretHasher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Constant-time equality.
bool digest_equal(const Digest& a, const Digest& b);
bool digest_equal(const Digest& a, std::string_view raw);

}  // namespace portcullis::auth::api_key
