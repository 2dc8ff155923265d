// The JWS algorithms Portcullis accepts (RFC 7518 §3, RFC 8037 for EdDSA) and which keys each
// one may be used with. `none` is not an algorithm here: it cannot be named, configured or
// parsed into an Alg.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace portcullis::jose {

enum class Alg : std::uint8_t {
  HS256, HS384, HS512,
  RS256, RS384, RS512,
  PS256, PS384, PS512,
  ES256, ES384, ES512,
  EdDSA,
};

enum class AlgFamily : std::uint8_t { Hmac, RsaPkcs1, RsaPss, Ecdsa, EdDsa };

inline constexpr Alg kAllAlgs[] = {Alg::HS256, Alg::HS384, Alg::HS512, Alg::RS256, Alg::RS384,
                                   Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512, Alg::ES256,
                                   Alg::ES384, Alg::ES512, Alg::EdDSA};

// Exact, case-sensitive names as JWS writes them ("RS256", "EdDSA"). nullopt for anything
// else, including every spelling of "none".
std::optional<Alg> parse_alg(std::string_view name);
std::string_view alg_name(Alg a);
AlgFamily alg_family(Alg a);
// Digest size in bytes for HS/RS/PS/ES (32, 48, 64); 0 for EdDSA.
unsigned alg_hash_bytes(Alg a);
// The exact JWS signature length of an ECDSA algorithm (64, 96, 132); 0 otherwise.
unsigned ecdsa_signature_bytes(Alg a);
// The curve an ECDSA algorithm requires ("P-256", "P-384", "P-521"); empty otherwise.
std::string_view ecdsa_curve(Alg a);
// True for "none" in any letter case (reported specially: it is never allowed).
bool is_none_alg(std::string_view name);

// A small set of algorithms (a provider's allow-list).
class AlgSet {
 public:
  void add(Alg a) { bits_ |= bit(a); }
  bool has(Alg a) const { return (bits_ & bit(a)) != 0; }
  bool empty() const { return bits_ == 0; }

 private:
  static std::uint32_t bit(Alg a) { return 1u << static_cast<unsigned>(a); }
  std::uint32_t bits_ = 0;
};

}  // namespace portcullis::jose
