#include "jose/algorithms.h"

#include <cctype>

namespace portcullis::jose {

std::optional<Alg> parse_alg(std::string_view name) {
  for (Alg a : kAllAlgs) {
    if (alg_name(a) == name) return a;
  }
  return std::nullopt;
}

std::string_view alg_name(Alg a) {
  switch (a) {
    case Alg::HS256: return "HS256";
    case Alg::HS384: return "HS384";
    case Alg::HS512: return "HS512";
    case Alg::RS256: return "RS256";
    case Alg::RS384: return "RS384";
    case Alg::RS512: return "RS512";
    case Alg::PS256: return "PS256";
    case Alg::PS384: return "PS384";
    case Alg::PS512: return "PS512";
    case Alg::ES256: return "ES256";
    case Alg::ES384: return "ES384";
    case Alg::ES512: return "ES512";
    case Alg::EdDSA: return "EdDSA";
  }
  return "";
}

AlgFamily alg_family(Alg a) {
  switch (a) {
    case Alg::HS256: case Alg::HS384: case Alg::HS512: return AlgFamily::Hmac;
    case Alg::RS256: case Alg::RS384: case Alg::RS512: return AlgFamily::RsaPkcs1;
    case Alg::PS256: case Alg::PS384: case Alg::PS512: return AlgFamily::RsaPss;
    case Alg::ES256: case Alg::ES384: case Alg::ES512: return AlgFamily::Ecdsa;
    case Alg::EdDSA: return AlgFamily::EdDsa;
  }
  return AlgFamily::EdDsa;
}

unsigned alg_hash_bytes(Alg a) {
  switch (a) {
    case Alg::HS256: case Alg::RS256: case Alg::PS256: case Alg::ES256: return 32;
    case Alg::HS384: case Alg::RS384: case Alg::PS384: case Alg::ES384: return 48;
    case Alg::HS512: case Alg::RS512: case Alg::PS512: case Alg::ES512: return 64;
    case Alg::EdDSA: return 0;
  }
  return 0;
}

unsigned ecdsa_signature_bytes(Alg a) {
  switch (a) {
    case Alg::ES256: return 64;
    case Alg::ES384: return 96;
    case Alg::ES512: return 132;
    default: return 0;
  }
}

std::string_view ecdsa_curve(Alg a) {
  switch (a) {
    case Alg::ES256: return "P-256";
    case Alg::ES384: return "P-384";
    case Alg::ES512: return "P-521";
    default: return "";
  }
}

bool is_none_alg(std::string_view name) {
  if (name.size() != 4) return false;
  static constexpr std::string_view kNone = "none";
  for (std::size_t i = 0; i < 4; ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != kNone[i]) return false;
  }
  return true;
}

}  // namespace portcullis::jose
