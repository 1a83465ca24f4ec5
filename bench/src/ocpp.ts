// npm run bench -- ocpp [--chargers 500 --commands 50]
// OCPP 1.6J charge points (raw OCPP-J frames over ws, in this process) held by one gateway
// process in front of the real broker, cloud and edge processes: connections held, gateway
// memory per connection, connect → online and BootNotification → Accepted latency, and
// RemoteStart (API) → confirmed by the charger's own reports. Figures for people; the
// behaviour is checked by gateways/test.
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { Presence, generateSecret } from '@yulan/protos';
import { freePort } from '@yulan/testkit';
import { procUsage, startService, type Service } from './procs.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { registerDevices, startStack } from './stack.js';
import { runOcppScale } from './ocpp-scale.js';

interface Cp { id: string; ws: WebSocket; n: number; pending: Map<string, (f: unknown[]) => void>; tx?: number }

function call(cp: Cp, action: string, payload: unknown): Promise<unknown[]> {
  const id = `b${++cp.n}`;
  return new Promise((resolve) => {
    cp.pending.set(id, resolve);
    cp.ws.send(JSON.stringify([2, id, action, payload]));
  });
}

/** A bench charge point: answers the gateway's calls; a RemoteStart is followed by what a
 * real charger sends (StartTransaction, Charging, a MeterValues sample with current). */
function open(url: string, id: string, key: string): Promise<Cp> {
  const ws = new WebSocket(`${url}/${id}`, ['ocpp1.6'], { headers: { authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}` } });
  const cp: Cp = { id, ws, n: 0, pending: new Map() };
  ws.on('message', (data) => {
    const f = JSON.parse(String(data)) as unknown[];
    if (f[0] !== 2) { const w = cp.pending.get(f[1] as string); cp.pending.delete(f[1] as string); w?.(f); return; }
    ws.send(JSON.stringify([3, f[1], { status: 'Accepted' }]));
    if (f[2] === 'RemoteStartTransaction') {
      void (async () => {
        const r = await call(cp, 'StartTransaction', { connectorId: 1, idTag: 'BENCH', meterStart: 0, timestamp: new Date().toISOString() });
        cp.tx = (r[2] as { transactionId: number }).transactionId;
        await call(cp, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
        await call(cp, 'MeterValues', { connectorId: 1, transactionId: cp.tx, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [
          { value: '100', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }, { value: '16', measurand: 'Current.Import', unit: 'A' }] }] });
      })();
    }
  });
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(cp)); ws.once('error', reject); });
}

export async function runOcpp(argv: string[]): Promise<unknown> {
  // several gateway and charger processes (the issue's scale run): ocpp-scale.ts
  if (argv.some((a) => a.startsWith('--gateways') || a.startsWith('--clients'))) return runOcppScale(argv);
  const { values } = parseArgs({ args: argv, options: { chargers: { type: 'string', default: '500' }, commands: { type: 'string', default: '50' } } });
  const N = Number(values.chargers);
  const C = Math.min(N, Number(values.commands));
  const gatewayToken = generateSecret();
  const stack = await startStack({}, [], { cloudEnv: { YULAN_GATEWAY_TOKEN: gatewayToken } });
  const port = await freePort();
  let gw: Service | undefined;
  try {
    gw = startService('gateway-ocpp', ['gateway', 'ocpp'], {
      PATH: process.env.PATH, YULAN_DATA_DIR: stack.dir, YULAN_MQTT_URL: stack.mqttUrl, YULAN_CLOUD_URL: stack.cloudUrl,
      YULAN_GATEWAY_TOKEN: gatewayToken, YULAN_OCPP_HOST: '127.0.0.1', YULAN_OCPP_PORT: String(port),
    });
    for (let i = 0; ; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
      if (i > 600) throw new Error(`gateway did not start: ${gw.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    process.stderr.write(`registering ${N} chargers…\n`);
    const devices = await registerDevices(stack, [{ slug: 'ev-charger', kind: 1 }], N, 'bench');
    const sub = await mqtt.connectAsync(stack.mqttUrl, { clientId: 'edge:bench-ocpp', username: 'edge', password: stack.edgeMqttPassword });
    const online = new Map<string, number>();
    sub.on('message', (_t, payload) => { const p = Presence.decode(payload); if (p.online && !online.has(p.deviceId)) online.set(p.deviceId, performance.now()); });
    await sub.subscribeAsync('yulan/v1/bench/ev-charger/+/presence', { qos: 0 });
    const mem = async (): Promise<{ rss: number; heapUsed: number; external: number }> =>
      ((await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${gatewayToken}` } })).json()) as { memory: { rss: number; heapUsed: number; external: number } }).memory;
    const m0 = await mem();
    const rss0 = procUsage(gw.proc.pid!).rssBytes;
    const url = `ws://127.0.0.1:${port}/ocpp`;
    const startedAt = new Map<string, number>();
    const bootMs: number[] = [];
    const cps: Cp[] = [];
    let retries = 0;
    let pending = 0;
    const t0 = performance.now();
    const lanes = Array.from({ length: 20 }, async (_, lane) => {
      for (let i = lane; i < devices.length; i += 20) {
        const d = devices[i]!;
        startedAt.set(d.id, performance.now());
        let cp: Cp | undefined;
        // A refused upgrade (503 while the registry is busy) is retried, as chargers do.
        for (let attempt = 0; !cp; attempt++) {
          cp = await open(url, d.id, d.secret).catch((err: unknown) => {
            if (attempt >= 20) throw err;
            retries++;
            return new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000));
          });
        }
        const b = performance.now();
        // Pending (its broker session not up yet) → boot again, as a charger does after `interval`
        // (shortened to 2 s here); the latency is to the Accepted answer.
        for (let k = 0; k < 150; k++) {
          const r = await call(cp, 'BootNotification', { chargePointVendor: 'Bench', chargePointModel: 'B1' });
          if ((r[2] as { status?: string }).status === 'Accepted') { bootMs.push(performance.now() - b); break; }
          pending++;
          await new Promise((res) => setTimeout(res, 2000));
        }
        cps.push(cp);
      }
    });
    await Promise.all(lanes);
    const connectS = (performance.now() - t0) / 1000;
    for (let i = 0; online.size < N && i < 3000; i++) await new Promise((r) => setTimeout(r, 100));
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { chargers: number };
    const rss1 = procUsage(gw.proc.pid!).rssBytes;
    const m1 = await mem();
    const onlineMs = [...online].map(([id, t]) => t - startedAt.get(id)!).sort((a, b) => a - b);
    bootMs.sort((a, b) => a - b);

    // RemoteStart through the API → the command succeeded (the charger's reports show Charging with current).
    const rtt: number[] = [];
    const outcome: Record<string, number> = {};
    await Promise.all(cps.slice(0, C).map(async (cp) => {
      const s = performance.now();
      const res = await fetch(`${stack.cloudUrl}/api/v1/devices/${cp.id}/commands`, {
        method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'charger.start_session', args: { connector_id: 1, id_tag: 'BENCH' }, timeoutSec: 60 }),
      });
      const { id } = (await res.json()) as { id: string };
      let done = { status: 'queued' };
      for (let i = 0; i < 6 && !['succeeded', 'failed', 'timed_out', 'expired'].includes(done.status); i++) {
        done = (await (await fetch(`${stack.cloudUrl}/api/v1/commands/${id}?wait=30`, { headers: { authorization: `Bearer ${stack.adminToken}` } })).json()) as { status: string };
      }
      outcome[done.status] = (outcome[done.status] ?? 0) + 1;
      if (done.status === 'succeeded') rtt.push(performance.now() - s);
    }));
    rtt.sort((a, b) => a - b);
    for (const cp of cps) cp.ws.close();
    await sub.endAsync();

    const result = {
      chargers: N, held: health.chargers, connectS, rssBeforeMiB: rss0 / 2 ** 20, rssAfterMiB: rss1 / 2 ** 20,
      kibPerConnection: (rss1 - rss0) / 1024 / N, heapKibPerConnection: (m1.heapUsed + m1.external - m0.heapUsed - m0.external) / 1024 / N,
      upgradeRetries: retries, bootsPending: pending,
      connectToOnlineMs: { p50: percentile(onlineMs, 50), p99: percentile(onlineMs, 99), n: onlineMs.length },
      bootToAcceptedMs: { p50: percentile(bootMs, 50), p99: percentile(bootMs, 99), n: bootMs.length },
      remoteStartConfirmedMs: { p50: percentile(rtt, 50), p99: percentile(rtt, 99), outcome },
    };
    const md = `## OCPP 1.6J gateway (\`npm run bench -- ocpp --chargers ${N} --commands ${C}\`)

One gateway process (\`yulan gateway ocpp\`) in front of broker, cloud and edge processes; ${N}
charge points (raw OCPP-J over ws, 20 connecting at a time, in the bench process) connect,
boot and stay connected; then ${C} of them get \`charger.start_session\` through the API and
answer as a real charger does (RemoteStart Accepted, StartTransaction, Charging, MeterValues).

${table(['measure', 'value'], [
  ['charge points held by the gateway', `${fmt(health.chargers)} of ${fmt(N)}`],
  ['connect + boot of all', `${fmt(connectS)} s (${fmt(retries)} upgrades retried after a 503; ${fmt(pending)} BootNotification answered Pending and repeated)`],
  ['chargers online (presence) at the end', `${fmt(onlineMs.length)} of ${fmt(N)}`],
  ['gateway RSS before → after', `${fmt(result.rssBeforeMiB)} → ${fmt(result.rssAfterMiB)} MiB`],
  ['gateway memory per connection (WebSocket + its MQTT session), JS heap + external delta', `${fmt(result.heapKibPerConnection)} KiB (RSS delta ${fmt(result.kibPerConnection)} KiB: start-up garbage collected meanwhile)`],
  ['WebSocket upgrade → presence online at a subscriber, p50 / p99', `${fmt(result.connectToOnlineMs.p50)} / ${fmt(result.connectToOnlineMs.p99)} ms`],
  ['BootNotification → Accepted, p50 / p99', `${fmt(result.bootToAcceptedMs.p50)} / ${fmt(result.bootToAcceptedMs.p99)} ms`],
  ['RemoteStart (API) → command succeeded, p50 / p99', `${fmt(result.remoteStartConfirmedMs.p50)} / ${fmt(result.remoteStartConfirmedMs.p99)} ms (${Object.entries(outcome).map(([k, v]) => `${v} ${k}`).join(', ')})`],
])}

Not measured here: the 50,000-charger aim (this shared 2-core machine was run at the size
above; each charger costs the gateway two sockets, so one process holds at most ~9,500 under
the 20,000-file limit — docs/ocpp.md §3), heartbeat/MeterValues load over time, and loss
across a SIGKILL (covered by gateways/test/ocpp-durability.test.ts: none).

${machineMarkdown(describeMachine())}`;
    publish('ocpp', md, result);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    await gw?.stop();
    await stack.stop();
  }
}
