#!/usr/bin/env node
// Readiness for the systemd units (ExecStartPost): polls the service's /healthz until it
// answers 2xx, at most 60 s; exit 0 = ready, 1 = not (systemd then fails the start and
// Restart= applies). Ports and hosts come from the same YULAN_* environment as the service.
// Usage: healthcheck.mjs broker|edge|cloud [timeoutSeconds]
const [svc, timeoutArg] = process.argv.slice(2);
const env = process.env;
const local = (h) => (!h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h);
const targets = {
  // The broker answers /healthz on its WebSocket/HTTP port.
  broker: `http://${local(env.YULAN_MQTT_HOST)}:${env.YULAN_WS_PORT || 8083}/healthz`,
  cloud: `http://${local(env.YULAN_HTTP_HOST)}:${env.YULAN_HTTP_PORT || 8080}/healthz`,
  edge: `http://${local(env.YULAN_EDGE_HTTP_HOST)}:${env.YULAN_EDGE_HTTP_PORT || 8081}/healthz`,
};
const url = targets[svc];
if (!url) {
  console.error('usage: healthcheck.mjs broker|edge|cloud [timeoutSeconds]');
  process.exit(2);
}
const deadline = Date.now() + Number(timeoutArg || 60) * 1000;
let last = 'no answer';
while (Date.now() < deadline) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (res.ok) process.exit(0);
    last = `HTTP ${res.status}`;
  } catch (err) {
    last = err.cause?.code ?? err.message;
  }
  await new Promise((r) => setTimeout(r, 500));
}
console.error(`yulan-${svc}: ${url} not healthy after ${timeoutArg || 60} s (${last})`);
process.exit(1);
