// Verifies the gateway's signed identity context with npm `jose` (a third-party
// implementation, not ours), as an upstream would: the signature against a JWK set, alg among
// EdDSA/ES256, iss, aud and exp.
//
//   node verify_context.mjs < {"jwks": {...}, "issuer": I, "audience": A, "tokens": [...],
//                               "at": UNIX_SECONDS (optional: verify as of then)}
// prints one JSON array: per token {"ok": true, "header": {...}, "payload": {...}} or
// {"ok": false, "code": jose's error code}.
import { createLocalJWKSet, jwtVerify } from 'jose';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
const keys = createLocalJWKSet(req.jwks);
const options = { issuer: req.issuer, audience: req.audience, algorithms: ['EdDSA', 'ES256'] };
if (req.at !== undefined) options.currentDate = new Date(req.at * 1000);
const out = [];
for (const token of req.tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys, options);
    out.push({ ok: true, header: protectedHeader, payload });
  } catch (e) {
    out.push({ ok: false, code: e.code || String(e) });
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
