#!/usr/bin/env node
// Readiness for the systemd units (ExecStartPost): polls the service's /healthz until it
// answers 2xx, at most 60 s; exit 0 = ready, 1 = not (systemd then fails the start and
// Restart= applies). Ports and hosts come from the same YULAN_* environment as the service.
// Usage: healthcheck.mjs broker|edge|cloud|ocpp|serial [timeoutSeconds]
// The container images (deploy/container/Dockerfile) run it as their HEALTHCHECK with a short timeout.
import { get as httpsGet } from 'node:https';
const [svc, timeoutArg] = process.argv.slice(2);
const env = process.env;
const local = (h) => (!h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h);
const targets = {
  // The broker answers /healthz on its WebSocket/HTTP port.
  broker: `http://${local(env.YULAN_MQTT_HOST)}:${env.YULAN_WS_PORT || 8083}/healthz`,
  cloud: `http://${local(env.YULAN_HTTP_HOST)}:${env.YULAN_HTTP_PORT || 8080}/healthz`,
  edge: `http://${local(env.YULAN_EDGE_HTTP_HOST)}:${env.YULAN_EDGE_HTTP_PORT || 8081}/healthz`,
  // The OCPP gateway answers /healthz on its OCPP port, over TLS when it has a certificate.
  ocpp: `${env.YULAN_OCPP_TLS_CERT ? 'https' : 'http'}://${local(env.YULAN_OCPP_HOST)}:${env.YULAN_OCPP_PORT || 8085}/healthz`,
  // The serial gateway has an HTTP side only when YULAN_SERIAL_HTTP_PORT is set.
  ...(env.YULAN_SERIAL_HTTP_PORT ? { serial: `http://${local(env.YULAN_SERIAL_HTTP_HOST)}:${env.YULAN_SERIAL_HTTP_PORT}/healthz` } : {}),
};
const url = targets[svc];
if (!url) {
  console.error(svc === 'serial'
    ? 'healthcheck.mjs serial: set YULAN_SERIAL_HTTP_PORT (the serial gateway has no /healthz without it)'
    : 'usage: healthcheck.mjs broker|edge|cloud|ocpp|serial [timeoutSeconds]');
  process.exit(2);
}
// A probe of the service's own port on this host: the certificate is made for the name
// chargers use, not for 127.0.0.1, so it is not verified here (nothing secret is sent).
function selfSigned(u) {
  return new Promise((resolve, reject) => {
    const req = httpsGet(u, { rejectUnauthorized: false, timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
const deadline = Date.now() + Number(timeoutArg || 60) * 1000;
let last = 'no answer';
while (Date.now() < deadline) {
  try {
    const status = url.startsWith('https:') ? await selfSigned(url) : (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
    if (status >= 200 && status < 300) process.exit(0);
    last = `HTTP ${status}`;
  } catch (err) {
    last = err.cause?.code ?? err.message;
  }
  await new Promise((r) => setTimeout(r, 500));
}
console.error(`yulan-${svc}: ${url} not healthy after ${timeoutArg || 60} s (${last})`);
process.exit(1);
