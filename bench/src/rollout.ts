// npm run bench -- rollout [--devices 10000 --offline-pct 3 --bad-pct 1 --report-every 10 --soak 30 --spread 30 --image-kib 64
//   --per-worker 2500 --connect-concurrency 10 --min-sample 10]
// A staged signed-firmware rollout to a fleet of simulated chargers, as an operator would
// run it, with the two things that go wrong in a city: some devices are offline when their
// stage opens (they come back later and must catch up), and some misbehave after
// installing (the health gate must catch them without stopping a good rollout). A second
// rollout then pushes an image on which EVERY device misbehaves: how fast does the gate
// stop it, and how many devices got it? Figures for people; the test checks behaviour.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceKind, generateSecret } from '@yulan/protos';
import { fleetDeviceSpecs } from '@yulan/device-sims';
import { seedRegistry } from './fleet.js';
import { procUsage } from './procs.js';
import { describeMachine, machineMarkdown, publish, table } from './report.js';
import { SimPool } from './rollout-pool.js';
import { startStack, type Stack } from './stack.js';

export interface RolloutOptions {
  devices: number;
  offlinePct: number;
  badPct: number;
  /** telemetry cadence of the simulated devices and the campaign's expected one, s */
  reportEverySec: number;
  soakSec: number;
  spreadSec: number;
  imageKiB: number;
  /** how long offline devices stay away after the last stage opens, s */
  offlineForSec: number;
  /** simulated devices per simulator process */
  perWorker: number;
  /** MQTT handshakes in flight per simulator process */
  connectConcurrency: number;
  /** the campaign's minSample: finished devices of a stage before the abort ratio counts */
  minSample: number;
}

export interface RunResult {
  status: string;
  reason: string | null;
  seconds: number;
  counts: Record<string, number>;
  onNewVersion: number;
  cloudCpuAvgPct: number;
  cloudCpuPeakPct: number;
}

/** os.loadavg() (1, 5, 15 min) around a campaign: the machine is shared. */
type Load = number[];

export interface RolloutResult {
  options: RolloutOptions;
  /** from starting the simulators to every online device connected, s */
  settleS: number;
  good: RunResult & { misbehaving: number; offline: number; loadBefore: Load; loadAfter: Load };
  bad: RunResult & { gateReactionS: number; installedBadImage: number; loadBefore: Load; loadAfter: Load };
}

export function parseRolloutArgs(argv: string[]): RolloutOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      devices: { type: 'string', default: '10000' }, 'offline-pct': { type: 'string', default: '3' }, 'bad-pct': { type: 'string', default: '1' },
      'report-every': { type: 'string', default: '10' }, soak: { type: 'string', default: '30' }, spread: { type: 'string', default: '30' },
      'image-kib': { type: 'string', default: '64' }, 'offline-for': { type: 'string', default: '20' },
      'per-worker': { type: 'string', default: '2500' }, 'connect-concurrency': { type: 'string', default: '10' }, 'min-sample': { type: 'string', default: '10' },
    },
  });
  const num = (k: string, v: string | undefined, min = 0): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${k} must be a number ≥ ${min}`);
    return n;
  };
  return {
    devices: Math.round(num('devices', values.devices, 10)), offlinePct: num('offline-pct', values['offline-pct']), badPct: num('bad-pct', values['bad-pct']),
    reportEverySec: num('report-every', values['report-every'], 0.1), soakSec: num('soak', values.soak), spreadSec: num('spread', values.spread),
    imageKiB: Math.round(num('image-kib', values['image-kib'], 1)), offlineForSec: num('offline-for', values['offline-for']),
    perWorker: Math.round(num('per-worker', values['per-worker'], 1)), connectConcurrency: Math.round(num('connect-concurrency', values['connect-concurrency'], 1)),
    minSample: Math.round(num('min-sample', values['min-sample'], 1)),
  };
}

async function api<T>(s: Stack, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.cloudUrl}/api/v1${path}`, {
    method, headers: { authorization: `Bearer ${s.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function uploadImage(s: Stack, version: string, kib: number, key: ReturnType<typeof generateKeyPairSync>['privateKey']): Promise<string> {
  const image = Buffer.alloc(kib * 1024);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31 + version.length) & 0xff;
  const signature = sign(null, createHash('sha256').update(image).digest(), key).toString('base64');
  const r = await fetch(`${s.cloudUrl}/api/v1/firmware?version=${version}&kind=ev-charger&key_id=bench`, {
    method: 'POST', headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/octet-stream', 'x-firmware-signature': signature }, body: image,
  });
  if (r.status !== 201) throw new Error(`upload ${version}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { id: string }).id;
}

async function versions(s: Stack): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (let offset = 0; ; offset += 500) {
    const r = await api<{ items: { id: string; firmwareVersion: string | null }[] }>(s, 'GET', `/devices?kind=ev-charger&limit=500&offset=${offset}`);
    for (const d of r.body.items) out.set(d.id, d.firmwareVersion);
    if (r.body.items.length < 500) return out;
  }
}

/** Runs one campaign to its end; `onStage` sees each stage as it opens. Samples the cloud's CPU. */
async function runCampaign(s: Stack, body: Record<string, unknown>, onStage: (stage: number, stages: number) => void): Promise<RunResult & { id: string; endedAtMs: number }> {
  const created = await api<{ id: string; stage: number; stages: number }>(s, 'POST', '/campaigns', body);
  if (created.status !== 201) throw new Error(`campaign: ${created.status} ${JSON.stringify(created.body)}`);
  const pid = s.cloud.proc.pid!;
  const first = procUsage(pid);
  let last = first;
  let lastT = performance.now();
  const t0 = lastT;
  let peak = 0;
  let stage = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const u = procUsage(pid);
    const now = performance.now();
    peak = Math.max(peak, (100 * (u.cpuMs - last.cpuMs)) / (now - lastT));
    last = u;
    lastT = now;
    const v = await api<{ status: string; reason: string | null; stage: number; stages: number; counts: Record<string, number>; updatedAt: string }>(s, 'GET', `/campaigns/${created.body.id}`);
    if (process.env.YULAN_BENCH_DEBUG) process.stderr.write(`${JSON.stringify({ s: v.body.status, st: v.body.stage, c: v.body.counts, r: v.body.reason })}\n`);
    if (v.body.stage !== stage) onStage((stage = v.body.stage), v.body.stages);
    if (v.body.status !== 'running' && v.body.status !== 'paused') {
      if (process.env.YULAN_BENCH_DEBUG) {
        const d = await api<{ items: { deviceId: string; offers: number; status: string }[] }>(s, 'GET', `/campaigns/${created.body.id}/devices?limit=10000`);
        process.stderr.write(`offers: ${JSON.stringify(d.body.items.filter((x) => x.offers !== 1).map((x) => [x.deviceId, x.status, x.offers]))}\n`);
      }
      const counts = Object.fromEntries(Object.entries(v.body.counts).filter(([, n]) => n > 0));
      return {
        id: created.body.id, status: v.body.status, reason: v.body.reason, seconds: (now - t0) / 1000, counts, onNewVersion: 0,
        cloudCpuAvgPct: (100 * (u.cpuMs - first.cpuMs)) / (now - t0), cloudCpuPeakPct: peak, endedAtMs: Date.parse(v.body.updatedAt),
      };
    }
  }
}

export async function measureRollout(o: RolloutOptions, progress: (line: string) => void = () => {}): Promise<RolloutResult> {
  const keys = generateKeyPairSync('ed25519');
  const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-rollout-'));
  const keyFile = join(dir, 'trusted-keys.json');
  writeFileSync(keyFile, JSON.stringify([{ id: 'bench', publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }) }]));
  const BAD_VERSION = '2.1.0';
  const specs = fleetDeviceSpecs(['ev-charger'], o.devices, ['r']).map((d) => ({ ...d, secret: generateSecret(24) }));
  // Every k-th device: spread over the hash-ordered stages, deterministic.
  const every = (pct: number, phase: number) => (pct <= 0 ? new Set<string>() : new Set(specs.filter((_, i) => (i + phase) % Math.round(100 / pct) === 0).map((d) => d.id)));
  const offline = every(o.offlinePct, 1);
  const bad = every(o.badPct, 7);
  for (const id of offline) bad.delete(id);
  let stack: Stack | undefined;
  const pools: SimPool[] = [];
  try {
    stack = await startStack(null, undefined, { cloudEnv: { YULAN_FIRMWARE_KEYS: keyFile } });
    const s = stack;
    // Secrets straight into the registry at scrypt N = 2^4 (as the connections scenario):
    // through the API each device costs the cloud two production scrypts (registration and
    // first CONNECT), ~11 core-minutes for 10,000 on this machine — the connect phase, not
    // the rollout. What the production hash costs a fleet's connects is measured separately.
    seedRegistry(s, specs.map((d) => ({ id: d.id, site: d.site, kind: DeviceKind.EV_CHARGER, secret: d.secret })));
    const sim = (devices: typeof specs): SimPool => new SimPool({ mqttUrl: s.mqttUrl, keyFile, badIds: [...bad], badVersion: BAD_VERSION, reportEverySec: o.reportEverySec, connectConcurrency: o.connectConcurrency }, devices, o.perWorker);
    const away = specs.filter((d) => offline.has(d.id));
    progress(`rollout: ${o.devices} simulated chargers in ${Math.ceil((o.devices - away.length) / o.perWorker)} processes (${away.length} of them connect once, then go offline)…`);
    if (away.length > 0) {
      const once = sim(away);
      await once.settle(away.length, 600_000, progress);
      await once.close();
    }
    const main = sim(specs.filter((d) => !offline.has(d.id)));
    pools.push(main);
    // The rollout starts on a settled fleet (offline ones aside).
    const online = specs.length - away.length;
    const settleS = await main.settle(online, 2_400_000, progress);
    progress(`rollout: ${online} online after ${settleS.toFixed(0)} s`);

    const good = await uploadImage(s, '2.0.0', o.imageKiB, keys.privateKey);
    const policy = { target: { kind: 'ev-charger' }, stages: [0.01, 0.1, 1], advanceAt: 0.95, abortAt: 0.1, minSample: o.minSample, spreadSec: o.spreadSec, soakSec: o.soakSec, reportEverySec: o.reportEverySec, missedReports: 3, reofferSec: 30, seed: 1 };
    let back: Promise<void> | undefined;
    const load1 = loadavg();
    const r1 = await runCampaign(s, { ...policy, firmwareId: good }, (stage, stages) => {
      progress(`rollout: stage ${stage}/${stages} open`);
      // The offline devices come back a while after the last stage opened: they must catch up.
      if (stage === stages && away.length > 0) {
        back = new Promise((r) => setTimeout(r, o.offlineForSec * 1000)).then(async () => {
          progress(`rollout: ${away.length} offline devices come back`);
          const returned = sim(away);
          pools.push(returned);
          await returned.started();
        });
      }
    });
    await back;
    const v1 = await versions(s);
    const goodRun = { ...r1, onNewVersion: [...v1.values()].filter((v) => v === '2.0.0').length, misbehaving: bad.size, offline: away.length, loadBefore: load1, loadAfter: loadavg() };
    progress(`rollout: good image ${r1.status} in ${r1.seconds.toFixed(0)} s (${goodRun.onNewVersion} on 2.0.0); now an image every device misbehaves on…`);

    for (const p of pools) await p.reset();
    const worse = await uploadImage(s, BAD_VERSION, o.imageKiB, keys.privateKey);
    const load2 = loadavg();
    const r2 = await runCampaign(s, { ...policy, firmwareId: worse, target: { kind: 'ev-charger', fromVersions: ['2.0.0'] } }, (stage, stages) => progress(`rollout: bad image, stage ${stage}/${stages}`));
    const v2 = await versions(s);
    let firstMisbehaviour = Number.POSITIVE_INFINITY;
    let installedBad = 0;
    for (const p of pools) {
      const st = await p.stats();
      if (st.firstMisbehaviour !== null) firstMisbehaviour = Math.min(firstMisbehaviour, st.firstMisbehaviour);
      installedBad += st.installedBad;
    }
    const badRun = {
      ...r2, onNewVersion: [...v2.values()].filter((v) => v === BAD_VERSION).length, installedBadImage: installedBad, loadBefore: load2, loadAfter: loadavg(),
      gateReactionS: Number.isFinite(firstMisbehaviour) ? (r2.endedAtMs - firstMisbehaviour) / 1000 : Number.NaN,
    };
    return { options: o, settleS, good: goodRun, bad: badRun };
  } finally {
    for (const p of pools) await p.close().catch(() => {});
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runRollout(argv: string[]): Promise<RolloutResult> {
  const o = parseRolloutArgs(argv);
  const machine = describeMachine();
  const r = await measureRollout(o, (line) => process.stderr.write(`${line}\n`));
  const counts = (c: Record<string, number>) => Object.entries(c).map(([k, n]) => `${k} ${n}`).join(', ');
  const t1 = table(['image', 'outcome', 'time (s)', 'on the new version', 'device outcomes', 'cloud CPU avg %', 'cloud CPU peak %'], [
    ['good (1 % misbehave, 3 % offline)', r.good.status, r.good.seconds, `${r.good.onNewVersion} of ${o.devices}`, counts(r.good.counts), r.good.cloudCpuAvgPct, r.good.cloudCpuPeakPct],
    ['bad (every device misbehaves)', r.bad.status, r.bad.seconds, `${r.bad.onNewVersion} of ${o.devices}`, counts(r.bad.counts), r.bad.cloudCpuAvgPct, r.bad.cloudCpuPeakPct],
  ]);
  const load = (l: Load): string => l.map((x) => x.toFixed(1)).join(' / ');
  const workers = Math.ceil((o.devices - r.good.offline) / o.perWorker);
  const md = `## rollout — staged firmware to a fleet with offline and misbehaving devices\n\n${machineMarkdown(machine)}\n\nOptions: ${o.devices} simulated EV chargers (MQTT.js clients in ${workers} simulator processes of ≤ ${o.perWorker}, ${o.connectConcurrency} connects in flight each; telemetry every ${o.reportEverySec} s) behind broker + cloud processes on the same machine; device secrets seeded into the registry at scrypt N=2^4 as in the connections scenario. Every online device was connected before the first campaign (${r.settleS.toFixed(0)} s after the simulators started). A ${o.imageKiB} KiB Ed25519-signed image in stages 1 % → 10 % → 100 % (advance at 95 %, abort above 10 % of a stage's finished devices after ${o.minSample}, spread ${o.spreadSec} s, soak ${o.soakSec} s, silence limit 3 × ${o.reportEverySec} s). ${r.good.offline} devices (${o.offlinePct} %) are offline when their stage opens and come back ${o.offlineForSec} s after the last stage opened; ${r.good.misbehaving} (${o.badPct} %) raise a fault 3 s after installing. Then a second image on which every device faults, from 2.0.0.\n\n${t1}\n\nGood image: ${r.good.reason ?? 'no abort'}. Bad image: ${r.bad.reason ?? '—'}; the gate stopped it ${r.bad.gateReactionS.toFixed(1)} s after the first misbehaviour, after ${r.bad.installedBadImage} devices had installed it.\n\nMachine load (1 / 5 / 15 min averages; 2 cores shared with other engineers' test runs): ${load(r.good.loadBefore)} when the good campaign started, ${load(r.good.loadAfter)} when it ended; ${load(r.bad.loadAfter)} after the bad one.\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('rollout', md, { machine, result: r });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return r;
}
