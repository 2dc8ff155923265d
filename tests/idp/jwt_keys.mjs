// The jwt integration tests' token issuer: keys for every JWS algorithm Portcullis accepts,
// tokens minted with npm `jose` (a third-party implementation, not ours), and a JWKS endpoint
// the gateway fetches, with switches to rotate keys, go down or set Cache-Control.
//
//   node jwt_keys.mjs serve [--port N] [--secret S]   prints "listening 127.0.0.1:PORT"
//   node jwt_keys.mjs tokens --key PRIVATE.pem --kid K --iss I --aud A --count N [--ttl S]
//                                                     prints N RS256 tokens, one a line (bench)
//
// serve endpoints (JSON in and out):
//   GET  /jwks.json              the published public keys (counts fetches; 503 when down)
//   GET  /stats                  {"jwks_fetches": N}
//   POST /state                  {"down": bool, "max_age": N|null, "delay_ms": N}
//   POST /mint                   {"alg", "claims", "header"?, "kid"? (null: none), "key"?:
//                                 "unpublished"} -> {"token"}   (jose SignJWT)
//   POST /sign                   {"alg", "input"} -> {"signature"} base64url of a raw JWS
//                                 signature over any bytes (for hand-built attack tokens)
//   GET  /pem/FAMILY             SPKI PEM of a public key (rsa, p256, p384, p521, ed25519)
//   GET  /jwk/FAMILY             its public JWK
//   POST /rotate?family=F        a new key (new kid) replaces the published one
//   POST /publish?kid=K&family=F a new key published beside the others, not yet used
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { SignJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8 } from 'jose';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

const FAMILY_OF = {
  RS256: 'rsa', RS384: 'rsa', RS512: 'rsa', PS256: 'rsa', PS384: 'rsa', PS512: 'rsa',
  ES256: 'p256', ES384: 'p384', ES512: 'p521', EdDSA: 'ed25519',
};
const GEN = { rsa: 'RS256', p256: 'ES256', p384: 'ES384', p521: 'ES512', ed25519: 'EdDSA' };
const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

async function newKey(family, kid) {
  const { publicKey, privateKey } = await generateKeyPair(GEN[family], {
    extractable: true, modulusLength: 2048, crv: family === 'ed25519' ? 'Ed25519' : undefined,
  });
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  const pem = await exportSPKI(publicKey);
  const pkcs8 = await exportPKCS8(privateKey);
  const nodeKey = crypto.createPrivateKey(pkcs8);
  return { family, kid, publicKey, privateKey, jwk, pem, nodeKey, pkcs8, signers: {} };
}

// WebCrypto keys are bound to one algorithm: an RSA key is imported once per RS/PS variant.
async function signerFor(key, alg) {
  if (!key.signers[alg]) key.signers[alg] = await importPKCS8(key.pkcs8, alg);
  return key.signers[alg];
}

// A raw JWS signature (RFC 7518) over `input` with node:crypto.
function rawSign(alg, key, input) {
  const data = Buffer.from(input, 'latin1');
  if (alg.startsWith('HS')) {
    return crypto.createHmac(HASH[alg.slice(2)], key).update(data).digest();
  }
  if (alg === 'EdDSA') return crypto.sign(null, data, key.nodeKey);
  const hash = HASH[alg.slice(2)];
  if (alg.startsWith('RS')) return crypto.sign(hash, data, key.nodeKey);
  if (alg.startsWith('PS')) {
    return crypto.sign(hash, data, {
      key: key.nodeKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
    });
  }
  return crypto.sign(hash, data, { key: key.nodeKey, dsaEncoding: 'ieee-p1363' });
}

async function serve() {
  const secret = new TextEncoder().encode(opt('secret', process.env.JWT_TEST_SECRET ||
    'portcullis-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123'));
  const current = {};   // family -> key that signs
  let published = [];   // keys in the JWKS
  let serial = 0;
  for (const f of Object.keys(GEN)) {
    current[f] = await newKey(f, `${f}-${++serial}`);
    published.push(current[f]);
  }
  let down = false;
  let maxAge = null;
  let delayMs = 0;
  let fetches = 0;

  const json = (res, status, body, extra = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...extra });
    res.end(JSON.stringify(body));
  };
  const readBody = (req) => new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      resolve(text ? JSON.parse(text) : {});
    });
  });

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      const p = url.pathname;
      if (req.method === 'GET' && p === '/jwks.json') {
        fetches += 1;
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        if (down) return json(res, 503, { error: 'down' });
        const headers = maxAge === null ? {} : { 'cache-control': `public, max-age=${maxAge}` };
        return json(res, 200, { keys: published.map((k) => k.jwk) }, headers);
      }
      if (req.method === 'GET' && p === '/stats') return json(res, 200, { jwks_fetches: fetches });
      if (req.method === 'GET' && p.startsWith('/pem/')) {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' });
        return res.end(current[p.slice(5)].pem);
      }
      if (req.method === 'GET' && p.startsWith('/jwk/')) return json(res, 200, current[p.slice(5)].jwk);
      if (req.method !== 'POST') return json(res, 404, { error: 'not_found' });
      const body = await readBody(req);
      if (p === '/state') {
        if ('down' in body) down = !!body.down;
        if ('max_age' in body) maxAge = body.max_age;
        if ('delay_ms' in body) delayMs = body.delay_ms;
        return json(res, 200, { down, max_age: maxAge, delay_ms: delayMs });
      }
      if (p === '/rotate') {
        const f = url.searchParams.get('family');
        const old = current[f];
        current[f] = await newKey(f, `${f}-${++serial}`);
        published = published.filter((k) => k !== old).concat([current[f]]);
        return json(res, 200, { kid: current[f].kid, removed: old.kid });
      }
      if (p === '/publish') {
        const k = await newKey(url.searchParams.get('family'), url.searchParams.get('kid'));
        published.push(k);
        return json(res, 200, { kid: k.kid });
      }
      if (p === '/mint') {
        const alg = body.alg;
        let key;
        let signer;
        if (alg.startsWith('HS')) {
          signer = secret;
        } else if (body.key === 'unpublished') {
          key = await newKey(FAMILY_OF[alg], `unpublished-${++serial}`);
          signer = await signerFor(key, alg);
        } else {
          key = current[FAMILY_OF[alg]];
          signer = await signerFor(key, alg);
        }
        const header = { alg, ...(body.header || {}) };
        if (key && !('kid' in body)) header.kid = key.kid;
        if ('kid' in body && body.kid !== null) header.kid = body.kid;
        const token = await new SignJWT(body.claims).setProtectedHeader(header).sign(signer);
        return json(res, 200, { token });
      }
      if (p === '/sign') {
        const alg = body.alg;
        const key = alg.startsWith('HS') ? (body.secret !== undefined
          ? Buffer.from(body.secret, 'latin1') : Buffer.from(secret)) : current[FAMILY_OF[alg]];
        return json(res, 200, { signature: rawSign(alg, key, body.input).toString('base64url') });
      }
      return json(res, 404, { error: 'not_found' });
    } catch (e) {
      return json(res, 500, { error: String(e && e.stack || e) });
    }
  });
  server.listen(Number(opt('port', 0)), '127.0.0.1', () => {
    process.stdout.write(`listening 127.0.0.1:${server.address().port}\n`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      server.closeAllConnections?.();
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 500).unref();
    });
  }
}

async function tokens() {
  const pem = fs.readFileSync(opt('key'), 'utf8');
  const kid = opt('kid', 'bench');
  const count = Number(opt('count', 1000));
  const ttl = Number(opt('ttl', 86400));
  const key = crypto.createPrivateKey(pem);
  await importPKCS8(pem, 'RS256');  // the key must be one jose accepts for RS256
  const head = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid })).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const claims = {
      iss: opt('iss'), aud: opt('aud'), sub: `bench-user-${i}`, scope: 'orders:read',
      iat: now, exp: now + ttl, jti: crypto.randomUUID(),
    };
    const input = `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    out.push(`${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

const mode = args[0];
if (mode === 'serve') await serve();
else if (mode === 'tokens') await tokens();
else {
  process.stderr.write('usage: node jwt_keys.mjs serve [--port N] | tokens --key PEM ...\n');
  process.exit(2);
}
