// Fuzzes what the gateway reads from identity.signed_context's key files: the input as PEM
// text (OpenSSL parses it; jose/signer.h judges the key against EdDSA and ES256), and for a
// key that loads, a signature and its public JWK.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "jose/signer.h"

using namespace portcullis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view pem(reinterpret_cast<const char*>(data), size);
  for (auto alg : {jose::Alg::EdDSA, jose::Alg::ES256}) {
    std::string error;
    auto key = jose::SigningKey::from_pem(pem, alg, "fuzz", error);
    if (!key) continue;
    if (key->sign(pem).size() != 64) __builtin_trap();
    (void)key->public_jwk();
  }
  return 0;
}
