// A real authorization server for the oauth2 integration tests: npm oidc-provider on
// loopback, with introspection (RFC 7662), revocation (RFC 7009), client credentials and
// resource indicators (RFC 8707). Access tokens for the resources urn:portcullis:api and
// urn:portcullis:other are opaque; those for urn:portcullis:jwt are RFC 9068 JWTs (for
// routes that list a jwt provider before the oauth2 one).
//
//   node oauth2_idp.mjs [--port N] [--tls-cert CHAIN.pem --tls-key KEY.pem]
//                                       prints "listening 127.0.0.1:PORT" once ready
//
// With --tls-cert/--tls-key it serves https (node's https module): the issuer and every
// endpoint are https://127.0.0.1:PORT/... (the certificate needs an IP SAN).
//
// Clients (secrets from the environment, defaults for local runs):
//   gateway      the resource server: introspects, client_secret_basic
//                (IDP_GATEWAY_SECRET, default gateway-secret)
//   gateway-post the same with client_secret_post (same secret)
//   test-client  gets tokens by client credentials, revokes them, client_secret_basic
//                (IDP_TEST_CLIENT_SECRET, default test-client-secret)
//
// Test controls, beside the provider's own endpoints (the provider never uses /test/):
//   GET  /test/introspections        {"count": N} introspection requests received
//   POST /test/reset                 count back to 0, no delay, no forced failure
//   POST /test/delay?ms=N            every later introspection answers N ms late
//   POST /test/fail?status=N         every later introspection answers N (0: stop failing)
//   POST /test/answer (JSON body)    every later introspection answers 200 with this body
//                                    (as a misbehaving provider would; reset clears it)
//   POST /test/refresh-token         {"refresh_token": ...} a real refresh token of test-client
//   GET  /test/tls                   TLS connections accepted and resumed, in all and the
//                                    gateway's (serve.mjs)
//   POST /test/close-idle            closes the idle keep-alive connections
import { serve, tlsStats } from './serve.mjs';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const wantPort = portArg >= 0 ? Number(args[portArg + 1]) : 0;
const gatewaySecret = process.env.IDP_GATEWAY_SECRET || 'gateway-secret';
const testSecret = process.env.IDP_TEST_CLIENT_SECRET || 'test-client-secret';

const OPAQUE = 'urn:portcullis:api';
const JWT = 'urn:portcullis:jwt';
const OTHER = 'urn:portcullis:other';
const SCOPES = 'orders:read orders:write';

let introspections = 0;
let delayMs = 0;
let failStatus = 0;
let forcedAnswer = null;
let provider;
let providerCallback;

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function control(req, res, url) {
  if (req.method === 'GET' && url.pathname === '/test/introspections') {
    return json(res, 200, { count: introspections });
  }
  if (req.method === 'POST' && url.pathname === '/test/reset') {
    introspections = 0;
    delayMs = 0;
    failStatus = 0;
    forcedAnswer = null;
    return json(res, 200, { ok: true });
  }
  if (req.method === 'POST' && url.pathname === '/test/delay') {
    delayMs = Number(url.searchParams.get('ms') || 0);
    return json(res, 200, { delay_ms: delayMs });
  }
  if (req.method === 'POST' && url.pathname === '/test/fail') {
    failStatus = Number(url.searchParams.get('status') || 0);
    return json(res, 200, { status: failStatus });
  }
  if (req.method === 'POST' && url.pathname === '/test/answer') {
    let body = '';
    for await (const chunk of req) body += chunk;
    forcedAnswer = JSON.parse(body);
    return json(res, 200, { ok: true });
  }
  if (req.method === 'GET' && url.pathname === '/test/tls') return json(res, 200, tlsStats);
  if (req.method === 'POST' && url.pathname === '/test/close-idle') {
    server.closeIdleConnections();
    return json(res, 200, { ok: true });
  }
  if (req.method === 'POST' && url.pathname === '/test/refresh-token') {
    // As the authorization-code flow with offline_access would leave it: a grant and a
    // refresh token bound to it, stored by the provider itself.
    const client = await provider.Client.find('test-client');
    const grant = new provider.Grant({ accountId: 'user-7', clientId: client.clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(OPAQUE, SCOPES);
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      client,
      accountId: 'user-7',
      grantId,
      gty: 'authorization_code',
      scope: 'openid offline_access',
      expiresIn: 86400,
    });
    return json(res, 200, { refresh_token: await rt.save() });
  }
  return json(res, 404, { error: 'not_found' });
}

const { server, scheme } = serve(process.argv.slice(2), (req, res) => {
  if (!providerCallback) {  // listening, but the provider is still being set up
    json(res, 503, { error: 'temporarily_unavailable' });
    return;
  }
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname.startsWith('/test/')) {
    control(req, res, url).catch((e) => json(res, 500, { error: String(e) }));
    return;
  }
  if (url.pathname === '/token/introspection') {
    introspections += 1;
    if (failStatus) {
      json(res, failStatus, { error: 'server_error' });
      return;
    }
    if (forcedAnswer) {
      json(res, 200, forcedAnswer);
      return;
    }
    if (delayMs) {
      setTimeout(() => providerCallback(req, res), delayMs);
      return;
    }
  }
  providerCallback(req, res);
});
server.keepAliveTimeout = 65000;

server.listen(wantPort, '127.0.0.1', async () => {
  const { port } = server.address();
  const issuer = `${scheme}://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

  provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    scopes: ['openid', 'offline_access', 'orders:read', 'orders:write'],
    clients: [
      {
        client_id: 'gateway',
        client_secret: gatewaySecret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'gateway-post',
        client_secret: gatewaySecret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        client_id: 'test-client',
        client_secret: testSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: SCOPES,
      },
    ],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => OPAQUE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (![OPAQUE, JWT, OTHER].includes(indicator)) throw new Provider.errors.InvalidTarget();
          return {
            scope: SCOPES,
            audience: indicator,
            accessTokenTTL: Number(process.env.IDP_ACCESS_TOKEN_TTL || 3600),
            accessTokenFormat: indicator === JWT ? 'jwt' : 'opaque',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  // RFC 7662 lets a server say what kind of token it introspected; oidc-provider leaves
  // token_type out for refresh tokens, so this server says it, as other servers do.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token/introspection' && ctx.oidc?.entities?.RefreshToken
        && ctx.body?.active === true) {
      ctx.body.token_type = 'refresh_token';
    }
  });
  providerCallback = provider.callback();
  process.stdout.write(`listening 127.0.0.1:${port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
