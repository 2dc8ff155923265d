// The error_description of every way a bearer JWT can be refused. Distinct, so that a caller
// (and a test) can tell what to fix; never containing anything from the token itself, since
// they go into a quoted WWW-Authenticate parameter.
#pragma once

#include <string_view>

namespace portcullis::auth::jwt::describe {

inline constexpr std::string_view kMalformed = "the token is not a well-formed JWT";
inline constexpr std::string_view kNotJwt = "the credential is not a JWT";
inline constexpr std::string_view kBearerNotJwt = "the bearer token is not a JWT";
inline constexpr std::string_view kEmpty = "the bearer token is empty";
inline constexpr std::string_view kDuplicateMember = "the token repeats a member name";
inline constexpr std::string_view kTooLarge = "the token is larger than allowed";
inline constexpr std::string_view kAmbiguous = "more than one token was presented";
inline constexpr std::string_view kNoAlg = "the token header has no valid alg";
inline constexpr std::string_view kAlgNone = "unsigned tokens (alg none) are not accepted";
inline constexpr std::string_view kAlgNotAllowed = "the token algorithm is not allowed";
inline constexpr std::string_view kCrit = "the token has an unsupported critical header parameter";
inline constexpr std::string_view kBadKid = "the token key id is invalid";
inline constexpr std::string_view kTyp = "the token type is not accepted";
inline constexpr std::string_view kRefreshToken = "a refresh token may not be used to call APIs";
inline constexpr std::string_view kIdToken = "an ID token may not be used to call APIs";
inline constexpr std::string_view kNoIssuer = "the token has no issuer";
inline constexpr std::string_view kUnknownIssuer = "the token issuer is not accepted";
inline constexpr std::string_view kUnknownKey = "the token signing key is unknown";
inline constexpr std::string_view kBadSignature = "the token signature does not verify";
inline constexpr std::string_view kBadSignatureLength = "the token signature has the wrong length";
inline constexpr std::string_view kBadEcdsaValue = "the token ECDSA signature is out of range";
inline constexpr std::string_view kExpired = "the token has expired";
inline constexpr std::string_view kNotYetValid = "the token is not valid yet";
inline constexpr std::string_view kIssuedInFuture = "the token was issued in the future";
inline constexpr std::string_view kWrongAudience = "the token audience is not accepted";
inline constexpr std::string_view kNoAudience = "the token has no audience";
inline constexpr std::string_view kLifetime = "the token lifetime exceeds the allowed maximum";
// With the claim name appended: "the token lacks the required claim exp".
inline constexpr std::string_view kMissingClaim = "the token lacks the required claim ";
inline constexpr std::string_view kNotNumeric = "the token claim is not a number: ";
inline constexpr std::string_view kBadClaim = "the token claim cannot be used: ";
inline constexpr std::string_view kKeysNotReady =
    "jwks_unavailable: the signing keys have not been fetched yet";
inline constexpr std::string_view kKeysUnavailable =
    "jwks_unavailable: the signing keys cannot be fetched";

}  // namespace portcullis::auth::jwt::describe
