// npm run bench -- ocpp --gateways 3 --clients 3 --chargers 10000 [--commands 50 --hold 120 --mode gateway|device]
// OCPP 1.6J charge points held across gateway processes in front of broker, cloud and edge
// processes, the charge points in their own client processes (ocpp-worker.ts): how many are
// held, memory per connection, BootNotification → Accepted and → presence online, RemoteStart
// → confirmed p50/p99, and transaction MeterValues answered before a gateway SIGKILL that
// never reached the store (must be none). Heartbeat 300 s, MeterValues every 60 s.
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { DeviceKind, Presence, generateSecret, hashSecret } from '@yulan/protos';
import { freePort } from '@yulan/testkit';
import { seedRegistry } from './fleet.js';
import type { FromOcppWorker, OcppWorkerStats, ToOcppWorker } from './ocpp-worker.js';
import { procUsage, startService, type Service } from './procs.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { startStack, type Stack } from './stack.js';

const WORKER = fileURLToPath(new URL('../dist/ocpp-worker.js', import.meta.url));
const progress = (s: string): void => void process.stderr.write(`ocpp: ${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MiB = 2 ** 20;

interface Gw { i: number; port: number; svc: Service; env: NodeJS.ProcessEnv }
interface Client { proc: ChildProcess; stats: OcppWorkerStats | undefined; closes: Record<string, number> }

export async function runOcppScale(argv: string[]): Promise<unknown> {
  const { values } = parseArgs({ args: argv, options: {
    chargers: { type: 'string', default: '10000' }, gateways: { type: 'string', default: '3' }, clients: { type: 'string', default: '3' },
    commands: { type: 'string', default: '50' }, hold: { type: 'string', default: '120' }, mode: { type: 'string', default: 'gateway' },
    concurrency: { type: 'string', default: '50' }, kill: { type: 'string', default: '1' }, 'connect-timeout': { type: 'string', default: '1800' },
  } });
  const N = Number(values.chargers);
  const G = Number(values.gateways);
  const K = Number(values.clients);
  const C = Math.min(N, Number(values.commands));
  const holdS = Number(values.hold);
  const mux = values.mode === 'gateway';
  const gatewayToken = generateSecret();
  const gwPassword = generateSecret();
  const stack = await startStack({}, [], { cloudEnv: { YULAN_GATEWAY_TOKEN: gatewayToken },
    extraAccounts: mux ? [{ username: 'gw-bench', role: 'gateway', hash: await hashSecret(gwPassword) }] : [] });
  const gws: Gw[] = [];
  const clients: Client[] = [];
  const load0 = loadavg();
  try {
    const devices = Array.from({ length: N }, (_, i) => ({ id: `ocpp-b${String(i).padStart(6, '0')}`, site: 'bench', kind: DeviceKind.EV_CHARGER, secret: generateSecret(24) }));
    progress(`seeding ${N} chargers into the registry…`);
    seedRegistry(stack, devices);
    for (let i = 0; i < G; i++) {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH, YULAN_DATA_DIR: join(stack.dir, `gw${i}`), YULAN_MQTT_URL: stack.mqttUrl, YULAN_CLOUD_URL: stack.cloudUrl,
        YULAN_GATEWAY_TOKEN: gatewayToken, YULAN_OCPP_HOST: '127.0.0.1', YULAN_OCPP_PORT: String(port), YULAN_OCPP_HEARTBEAT_S: '300',
        ...(mux ? { YULAN_OCPP_MQTT_USERNAME: 'gw-bench', YULAN_OCPP_MQTT_PASSWORD: gwPassword, YULAN_OCPP_MQTT_CLIENT_ID: `gw-bench:g${i}` } : {}),
      };
      gws.push({ i, port, env, svc: startService(`gateway-ocpp-${i}`, ['gateway', 'ocpp'], env) });
    }
    for (const g of gws) await waitHealthy(g);
    const rss0 = gws.reduce((a, g) => a + procUsage(g.svc.proc.pid!).rssBytes, 0);

    const sub = await mqtt.connectAsync(stack.mqttUrl, { clientId: 'edge:bench-ocpp', username: 'edge', password: stack.edgeMqttPassword });
    const online = new Map<string, number>();
    const offlineReasons: Record<string, number> = {};
    sub.on('message', (_t, payload) => {
      const p = Presence.decode(payload);
      if (p.online && !online.has(p.deviceId)) online.set(p.deviceId, performance.now());
      if (!p.online) offlineReasons[p.reason] = (offlineReasons[p.reason] ?? 0) + 1;
    });
    await sub.subscribeAsync('yulan/v1/bench/ev-charger/+/presence', { qos: 0 });

    const urlOf = (i: number): string => `ws://127.0.0.1:${gws[i % G]!.port}/ocpp`;
    const per = Math.ceil(N / K);
    const t0 = performance.now();
    for (let k = 0; k < K; k++) {
      const proc = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const c: Client = { proc, stats: undefined, closes: {} };
      proc.on('message', (m: FromOcppWorker) => { if (m.type === 'stats') { c.stats = m.stats; c.closes = m.closes; } });
      const mine = devices.slice(k * per, (k + 1) * per).map((d, j) => ({ id: d.id, secret: d.secret, url: urlOf(k * per + j) }));
      // One source address per client process: from 127.0.0.1 alone, all charge points share
      // one ephemeral port range (28,232 here), which stopped the first 50,000 attempt.
      proc.send({ type: 'start', chargers: mine, concurrency: Number(values.concurrency), heartbeatS: 300, meterEveryS: 60, localAddress: `127.0.0.${2 + k}` } satisfies ToOcppWorker);
      clients.push(c);
    }
    const total = (f: keyof OcppWorkerStats): number => clients.reduce((a, c) => a + (c.stats?.[f] ?? 0), 0);
    let last = 0;
    for (;;) {
      await sleep(2000);
      const acc = total('accepted');
      const s = (performance.now() - t0) / 1000;
      if (s - last >= 15) { last = s; progress(`${acc} of ${N} accepted, ${online.size} online after ${s.toFixed(0)} s; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`); }
      if (acc >= N) break;
      if (s > Number(values['connect-timeout'])) { progress(`connect phase ended at the timeout with ${acc} of ${N}`); break; }
    }
    const connectS = (performance.now() - t0) / 1000;
    const connectRetries = total('upgradeRetries');
    for (let i = 0; online.size < total('accepted') && i < 300; i++) await sleep(100);

    // Hold at full count with heartbeats and meter values flowing.
    progress(`holding for ${holdS} s…`);
    const cpu0 = cpuOf(stack, gws);
    const meter0 = total('meterAnswered');
    const tHold = performance.now();
    await sleep(holdS * 1000);
    const holdElapsed = (performance.now() - tHold) / 1000;
    const cpu1 = cpuOf(stack, gws);
    const meterRate = (total('meterAnswered') - meter0) / holdElapsed;
    const cpuShare = Object.fromEntries(Object.keys(cpu1).map((k) => [k, (cpu1[k]! - (cpu0[k] ?? 0)) / 1000 / holdElapsed]));
    const held = await Promise.all(gws.map(async (g) => ((await (await fetch(`http://127.0.0.1:${g.port}/healthz`)).json()) as { chargers: number }).chargers));
    const rssEach = gws.map((g) => procUsage(g.svc.proc.pid!).rssBytes);
    const fds = gws.map((g) => fdCount(g.svc.proc.pid!));
    const brokerMetrics = await fetch(`${stack.brokerHttpUrl}/metrics`, { headers: { authorization: `Bearer ${stack.brokerToken}` } }).then((r) => r.json() as Promise<{ connections?: { current: number } }>).catch(() => undefined);
    const rss1 = rssEach.reduce((a, b) => a + b, 0);
    const loadHold = loadavg();
    // Who closed chargers' connections before any kill: what the chargers saw, and the
    // gateways' own counters (gateway 0's reset when it is killed below).
    const closesBeforeKill = mergeCounts(clients.map((c) => c.closes));
    const gwCounters = await Promise.all(gws.map((g) => fetch(`http://127.0.0.1:${g.port}/metrics`, { headers: { authorization: `Bearer ${gatewayToken}` } })
      .then((r) => r.json() as Promise<{ cutOff: number; replacedByNewer: number; rateLimited: number; upgradesRefused: Record<string, number> }>).catch(() => undefined)));
    const gwClosed = {
      cutOff: gwCounters.reduce((a, m) => a + (m?.cutOff ?? 0), 0), replacedByNewer: gwCounters.reduce((a, m) => a + (m?.replacedByNewer ?? 0), 0),
      rateLimited: gwCounters.reduce((a, m) => a + (m?.rateLimited ?? 0), 0), upgradesRefused: mergeCounts(gwCounters.map((m) => m?.upgradesRefused ?? {})),
    };

    // RemoteStart through the API → succeeded (the charger's own reports show Charging with current).
    const commanded = devices.filter((_, i) => i % G === 0).slice(0, C).map((d) => d.id);
    const rtt: number[] = [];
    const outcome: Record<string, number> = {};
    await Promise.all(commanded.map(async (id) => {
      const s = performance.now();
      const res = await fetch(`${stack.cloudUrl}/api/v1/devices/${id}/commands`, {
        method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'charger.start_session', args: { connector_id: 1, id_tag: 'BENCH' }, timeoutSec: 120 }),
      });
      const { id: cmd } = (await res.json()) as { id: string };
      let done = { status: 'queued' };
      for (let i = 0; i < 10 && !['succeeded', 'failed', 'timed_out', 'expired', 'rejected'].includes(done.status); i++) {
        done = (await (await fetch(`${stack.cloudUrl}/api/v1/commands/${cmd}?wait=30`, { headers: { authorization: `Bearer ${stack.adminToken}` } })).json()) as { status: string };
      }
      outcome[done.status] = (outcome[done.status] ?? 0) + 1;
      if (done.status === 'succeeded') rtt.push(performance.now() - s);
    }));
    rtt.sort((a, b) => a - b);

    // SIGKILL gateway 0 while the commanded chargers send transaction MeterValues
    // (--kill 0 skips it: reconnecting a gateway's share of a big fleet takes long here).
    const killed = values.kill !== '0';
    if (killed) {
      progress('SIGKILL of gateway 0 during transaction MeterValues…');
      const byClient = clients.map((_, k) => commanded.filter((id) => Math.floor(devices.findIndex((d) => d.id === id) / per) === k));
      clients.forEach((c, k) => c.proc.send({ type: 'tx-burst', ids: byClient[k]!, count: 20 } satisfies ToOcppWorker));
      await sleep(300);
      const g0 = gws[0]!;
      g0.svc.proc.kill('SIGKILL');
      await new Promise((r) => g0.svc.proc.once('exit', r));
      g0.svc = startService('gateway-ocpp-0', ['gateway', 'ocpp'], g0.env);
      await waitHealthy(g0);
      const tBack = performance.now();
      while (total('accepted') < held.reduce((a, b) => a + b, 0) && performance.now() - tBack < 600_000) await sleep(2000);
    }
    const reports = await Promise.all(clients.map((c) => ask(c.proc)));
    const answered: Record<string, number[]> = killed ? Object.assign({}, ...reports.map((r) => r.answeredTx)) : {};
    const answeredCount = Object.values(answered).reduce((a, v) => a + v.length, 0);
    let missing = 0;
    const deadline = performance.now() + 300_000;
    for (const [id, whs] of Object.entries(answered)) {
      for (;;) {
        const r = await fetch(`${stack.cloudUrl}/api/v1/devices/${id}/telemetry?resolution=raw&limit=5000`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
        const pts = ((await r.json()) as { points?: { fields: Record<string, number> }[] }).points ?? [];
        const got = new Set(pts.map((p) => Math.round((p.fields.meter_kwh ?? -1) * 1000)));
        const lost = whs.filter((w) => !got.has(w)).length;
        if (lost === 0 || performance.now() > deadline) { missing += lost; break; }
        await sleep(2000);
      }
    }
    const bootMs = reports.flatMap((r) => r.bootMs).sort((a, b) => a - b);
    const onlineMs = [...online.values()].map((t) => t - t0).sort((a, b) => a - b);
    await sub.endAsync();

    const heldTotal = held.reduce((a, b) => a + b, 0);
    const result = {
      chargers: N, gateways: G, clients: K, mode: values.mode, held, heldTotal, connectS, fdsPerGateway: fds, brokerConnections: brokerMetrics?.connections?.current,
      rssBeforeMiB: rss0 / MiB, rssAfterMiB: rss1 / MiB, rssPerGatewayMiB: rssEach.map((b) => b / MiB), kibPerConnection: (rss1 - rss0) / 1024 / Math.max(1, heldTotal),
      upgradeRetries: total('upgradeRetries'), upgradeRetriesConnectPhase: connectRetries, closesBeforeKill, gatewayClosesBeforeKill: gwClosed, bootsPending: total('pending'), reconnects: total('reconnects'),
      bootToAcceptedMs: { p50: percentile(bootMs, 50), p99: percentile(bootMs, 99), n: bootMs.length },
      onlineAfterStartS: { p50: percentile(onlineMs, 50) / 1000, p100: (onlineMs.at(-1) ?? NaN) / 1000, n: onlineMs.length },
      meterValuesPerS: meterRate, cpuCoresDuringHold: cpuShare, load: { before: load0, hold: loadHold },
      remoteStartConfirmedMs: { p50: percentile(rtt, 50), p99: percentile(rtt, 99), outcome },
      sigkill: { answeredTxMeterValues: answeredCount, missingFromStore: missing, offlinePresenceByReason: offlineReasons },
    };
    const la = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' / ');
    const md = `## OCPP 1.6J gateway at scale (\`npm run bench -- ocpp --gateways ${G} --clients ${K} --chargers ${N} --commands ${C} --hold ${holdS} --concurrency ${values.concurrency} --kill ${values.kill} --connect-timeout ${values['connect-timeout']}${mux ? '' : ' --mode device'}\`)

${G} gateway processes (\`yulan gateway ocpp\`, ${mux ? 'the broker\'s `gateway` role: one MQTT session per gateway process' : 'one MQTT session per charger'}) in front of broker, cloud and
edge processes; ${N} charge points (raw OCPP-J over ws) in ${K} client processes (bench/src/ocpp-worker.ts, ${values.concurrency}
connecting at a time each, each from its own 127.0.0.x source address), spread round-robin over the gateways; heartbeat 300 s, MeterValues every 60 s
(spread over the minute). Every process runs under \`ulimit -n 20000\`. Registry secrets seeded at scrypt N=2^4
(as the connections and rollout scenarios). Then ${C} chargers of gateway 0 get \`charger.start_session\` through
the API; then${killed ? '' : ' (not in this run: --kill 0)'} they send transaction MeterValues (20 each, as fast as answered) while gateway 0 is SIGKILLed and
restarted, and every answered value is looked for in the store.

${table(['measure', 'value'], [
  ['charge points held (per gateway)', `${fmt(heldTotal)} of ${fmt(N)} (${held.map(fmt).join(' + ')})`],
  ['connect + boot of all', `${fmt(connectS)} s (${fmt(connectRetries)} upgrades retried in it, ${fmt(result.upgradeRetries)} in the whole run; ${fmt(result.bootsPending)} boots answered Pending and repeated)`],
  ['open files per gateway process at full count', fds.map(fmt).join(', ')],
  ['broker connections at full count', fmt(result.brokerConnections ?? NaN)],
  ['gateway RSS, all gateways, before → after', `${fmt(result.rssBeforeMiB)} → ${fmt(result.rssAfterMiB)} MiB (${result.rssPerGatewayMiB.map(fmt).join(' / ')} MiB each)`],
  ['gateway memory per connection (RSS delta / held)', `${fmt(result.kibPerConnection)} KiB`],
  ['BootNotification → Accepted, p50 / p99', `${fmt(result.bootToAcceptedMs.p50)} / ${fmt(result.bootToAcceptedMs.p99)} ms`],
  ['presence online at a subscriber, from the start of the connect phase, p50 / last', `${fmt(result.onlineAfterStartS.p50)} / ${fmt(result.onlineAfterStartS.p100)} s (${fmt(onlineMs.length)} chargers)`],
  [`MeterValues answered during the ${holdS} s hold`, `${fmt(meterRate)} /s`],
  ['CPU during the hold, cores', Object.entries(cpuShare).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')],
  ['RemoteStart (API) → succeeded, p50 / p99', `${fmt(result.remoteStartConfirmedMs.p50)} / ${fmt(result.remoteStartConfirmedMs.p99)} ms (${Object.entries(outcome).map(([k, v]) => `${v} ${k}`).join(', ')})`],
  ['transaction MeterValues answered around the SIGKILL → missing from the store', killed ? `${fmt(answeredCount)} → ${fmt(missing)}` : 'not run (--kill 0)'],
  ['offline presence seen, by reason', Object.entries(offlineReasons).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none'],
  ['connections closed before the kill: as the chargers saw it (code reason)', Object.entries(closesBeforeKill).map(([k, v]) => `${k}: ${fmt(v)}`).join(', ') || 'none'],
  ['… by the gateways\' counters', `cut off ${fmt(gwClosed.cutOff)}, replaced by a newer connection ${fmt(gwClosed.replacedByNewer)}, rate-limited ${fmt(gwClosed.rateLimited)}; upgrades refused: ${Object.entries(gwClosed.upgradesRefused).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none'}`],
  ['load average (1 / 5 / 15 min) before → during the hold', `${la(load0)} → ${la(loadHold)}`],
])}

${machineMarkdown(describeMachine())}`;
    publish(`ocpp-scale-${N}`, md, result);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    for (const c of clients) c.proc.kill('SIGKILL');
    for (const g of gws) await g.svc.stop();
    await stack.stop();
  }
}

async function waitHealthy(g: Gw): Promise<void> {
  for (let i = 0; ; i++) {
    if (await fetch(`http://127.0.0.1:${g.port}/healthz`).then((r) => r.ok, () => false)) return;
    if (i > 1200) throw new Error(`gateway ${g.i} did not start: ${g.svc.tail()}`);
    await sleep(100);
  }
}

function ask(proc: ChildProcess): Promise<Extract<FromOcppWorker, { type: 'report' }>> {
  return new Promise((resolve) => {
    const on = (m: FromOcppWorker): void => { if (m.type === 'report') { proc.off('message', on); resolve(m); } };
    proc.on('message', on);
    proc.send({ type: 'report' } satisfies ToOcppWorker);
  });
}

function cpuOf(stack: Stack, gws: Gw[]): Record<string, number> {
  const safe = (pid: number | undefined): number => { try { return pid ? procUsage(pid).cpuMs : 0; } catch { return 0; } };
  return {
    broker: safe(stack.broker.proc.pid), cloud: safe(stack.cloud.proc.pid), edge: safe(stack.edge?.proc.pid),
    gateways: gws.reduce((a, g) => a + safe(g.svc.proc.pid), 0),
  };
}

function mergeCounts(maps: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}
