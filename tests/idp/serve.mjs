// The test IdPs' listener: plain http, or https (node's https module) when the command line
// has --tls-cert CHAIN.pem --tls-key KEY.pem (made at test time: tests/integration/certs.py).
// tlsStats counts the TLS connections accepted and how many resumed a session, and the same
// for the connections the gateway made (those whose requests carry its User-Agent,
// portcullis/...), so a test can see the gateway keep connections alive and resume sessions.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

export const tlsStats = { connections: 0, resumed: 0, gateway_connections: 0, gateway_resumed: 0 };
const gatewaySockets = new WeakSet();

function countGateway(req) {
  const socket = req.socket;
  if (!(req.headers['user-agent'] || '').startsWith('portcullis/') || gatewaySockets.has(socket)) {
    return;
  }
  gatewaySockets.add(socket);
  tlsStats.gateway_connections += 1;
  if (socket.isSessionReused()) tlsStats.gateway_resumed += 1;
}

function option(args, name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export function serve(args, handler) {
  const cert = option(args, '--tls-cert');
  const key = option(args, '--tls-key');
  if (!cert !== !key) throw new Error('--tls-cert and --tls-key go together');
  if (!cert) return { server: http.createServer(handler), scheme: 'http' };
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) },
    (req, res) => {
      countGateway(req);
      return handler(req, res);
    });
  server.on('secureConnection', (socket) => {
    tlsStats.connections += 1;
    if (socket.isSessionReused()) tlsStats.resumed += 1;
  });
  return { server, scheme: 'https' };
}
