// A real OpenID provider for the jwt integration tests: npm oidc-provider on loopback with
// client credentials and resource indicators, issuing RFC 9068 JWT access tokens (typ
// at+jwt) signed with an RS256 key published at its jwks_uri (found through discovery).
//
//   node jwt_oidc.mjs [--port N] [--tls-cert CHAIN.pem --tls-key KEY.pem]
//                                    prints "listening 127.0.0.1:PORT" once ready
//
// With --tls-cert/--tls-key it serves https (node's https module) and the issuer, discovery,
// jwks_uri and token endpoint are https://127.0.0.1:PORT/... (the certificate needs an IP SAN).
//
// Client: test-client / client_secret_basic (IDP_TEST_CLIENT_SECRET, default
// test-client-secret), grant client_credentials, scopes orders:read orders:write, resource
// urn:portcullis:orders (the token's aud).
//
// Test control (outside the provider's own routes):
//   POST /test/rotate    a new signing key (new kid) signs from now on; the old one is
//                        removed from the JWKS. Answers {"kid": NEW, "removed": OLD}.
//   GET  /test/kid       {"kid": CURRENT}
//   POST /test/ttl       {"ttl": SECONDS}: the lifetime of the access tokens issued from now
//                        on (3600 at start); a short one gives a test an expired token
//   GET  /test/tls       TLS connections accepted and resumed, in all and the gateway's
//                        (serve.mjs)
//   POST /test/close-idle  closes the idle keep-alive connections (clients must reconnect)
import { serve, tlsStats } from './serve.mjs';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const wantPort = portArg >= 0 ? Number(args[portArg + 1]) : 0;
const testSecret = process.env.IDP_TEST_CLIENT_SECRET || 'test-client-secret';
const RESOURCE = 'urn:portcullis:orders';
const SCOPES = 'orders:read orders:write';

let serial = 0;
let accessTokenTTL = 3600;
let currentKid;
let callback;

async function newJwk() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  serial += 1;
  const kid = `oidc-${Date.now()}-${serial}`;
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

// oidc-provider's key set is fixed per instance: a rotation builds a new instance with the new
// key only (tokens are JWTs, so nothing stored is needed to validate them).
function build(issuer, jwk) {
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    scopes: ['openid', 'orders:read', 'orders:write'],
    clients: [{
      client_id: 'test-client',
      client_secret: testSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPES,
    }],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: SCOPES,
            audience: RESOURCE,
            accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  currentKid = jwk.kid;
  callback = provider.callback();
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

let issuer;
const { server, scheme } = serve(args, async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/test/rotate' && req.method === 'POST') {
    const removed = currentKid;
    build(issuer, await newJwk());
    return json(res, 200, { kid: currentKid, removed });
  }
  if (url.pathname === '/test/kid') return json(res, 200, { kid: currentKid });
  if (url.pathname === '/test/ttl' && req.method === 'POST') {
    let body = '';
    for await (const piece of req) body += piece;
    accessTokenTTL = Number(JSON.parse(body).ttl);
    return json(res, 200, { ttl: accessTokenTTL });
  }
  if (url.pathname === '/test/tls') return json(res, 200, tlsStats);
  if (url.pathname === '/test/close-idle' && req.method === 'POST') {
    server.closeIdleConnections();
    return json(res, 200, { ok: true });
  }
  // Listening, but the provider is still being built (its key is being generated): a
  // gateway polling the address meanwhile gets what a provider starting up would answer.
  if (!callback) return json(res, 503, { error: 'temporarily_unavailable' });
  return callback(req, res);
});

server.listen(wantPort, '127.0.0.1', async () => {
  issuer = `${scheme}://127.0.0.1:${server.address().port}`;
  build(issuer, await newJwk());
  process.stdout.write(`listening 127.0.0.1:${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
