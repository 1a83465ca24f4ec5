// npm run bench -- command-rtt [--devices 1000 --commands 1000 --rate 20 --image-kib 256 --no-campaign]
// With a fleet of simulated parcel lockers online (real MQTT clients, provisioned through
// the API), measures API call → device → result confirmed by the device's own telemetry,
// then rolls signed firmware out to the whole fleet in stages and times it, sampling the
// cloud's CPU and memory. Figures for people; tests check behaviour.
import { generateKeyPairSync, createHash, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runFleet, type FleetHandle } from '@yulan/device-sims';
import { procUsage } from './procs.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { startStack, type Stack } from './stack.js';

export interface CommandRttOptions {
  devices: number;
  commands: number;
  /** commands issued per second */
  rate: number;
  imageKiB: number;
  campaign: boolean;
}

export interface CommandRttResult {
  options: CommandRttOptions;
  connected: number;
  commands: { issued: number; succeeded: number; other: Record<string, number>; rttMs: { p50: number; p90: number; p99: number; max: number } };
  campaign?: { devices: number; status: string; completeS: number; succeeded: number; failed: number; peakCloudCpuPct: number; peakCloudRssMiB: number };
}

export function parseCommandRttArgs(argv: string[]): CommandRttOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      devices: { type: 'string', default: '1000' }, commands: { type: 'string', default: '1000' }, rate: { type: 'string', default: '20' },
      'image-kib': { type: 'string', default: '256' }, 'no-campaign': { type: 'boolean', default: false },
    },
  });
  const num = (k: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} must be a positive number`);
    return n;
  };
  return {
    devices: Math.round(num('devices', values.devices)), commands: Math.round(num('commands', values.commands)),
    rate: num('rate', values.rate), imageKiB: Math.round(num('image-kib', values['image-kib'])), campaign: !values['no-campaign'],
  };
}

async function api<T>(stack: Stack, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${stack.cloudUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** One command, from the API call to its final state (long-poll on the cloud). */
async function roundTrip(stack: Stack, deviceId: string, i: number): Promise<{ status: string; ms: number }> {
  const t0 = performance.now();
  const r = await api<{ id: string }>(stack, 'POST', `/devices/${deviceId}/commands`, { name: 'locker.open', args: { compartment: String((i % 4) + 1) }, timeoutSec: 60 }, { 'idempotency-key': `rtt-${i}` });
  if (r.status >= 300) return { status: `http-${r.status}`, ms: performance.now() - t0 };
  for (;;) {
    const w = await api<{ status: string }>(stack, 'GET', `/commands/${r.body.id}?wait=60`);
    if (['succeeded', 'failed', 'timed_out', 'expired'].includes(w.body.status)) return { status: w.body.status, ms: performance.now() - t0 };
  }
}

async function campaign(stack: Stack, o: CommandRttOptions, privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']): Promise<NonNullable<CommandRttResult['campaign']>> {
  const image = Buffer.alloc(o.imageKiB * 1024);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31) & 0xff;
  const digest = createHash('sha256').update(image).digest();
  const signature = sign(null, digest, privateKey).toString('base64');
  const up = await fetch(`${stack.cloudUrl}/api/v1/firmware?version=2.0.0&kind=parcel-locker&key_id=bench`, {
    method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/octet-stream', 'x-firmware-signature': signature }, body: image,
  });
  if (up.status !== 201) throw new Error(`firmware upload: ${up.status} ${await up.text()}`);
  const fw = (await up.json()) as { id: string };
  const created = await api<{ id: string }>(stack, 'POST', '/campaigns', {
    firmwareId: fw.id, target: { kind: 'parcel-locker' }, stages: [0.01, 0.1, 1], advanceAt: 0.95, abortAt: 0.1, spreadSec: 10, soakSec: 0,
  });
  if (created.status >= 300) throw new Error(`campaign: ${created.status} ${JSON.stringify(created.body)}`);
  const pid = stack.cloud.proc.pid!;
  let last = procUsage(pid);
  let lastT = performance.now();
  let peakCpu = 0;
  let peakRss = last.rssBytes;
  const t0 = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const u = procUsage(pid);
    const now = performance.now();
    peakCpu = Math.max(peakCpu, (100 * (u.cpuMs - last.cpuMs)) / (now - lastT));
    peakRss = Math.max(peakRss, u.rssBytes);
    last = u;
    lastT = now;
    const c = await api<{ status: string; counts?: Record<string, number> }>(stack, 'GET', `/campaigns/${created.body.id}`);
    if (c.body.status !== 'running' || now - t0 > 900_000) {
      const counts = c.body.counts ?? {};
      return {
        devices: o.devices, status: c.body.status, completeS: (now - t0) / 1000,
        succeeded: counts.succeeded ?? 0, failed: counts.failed ?? 0,
        peakCloudCpuPct: peakCpu, peakCloudRssMiB: peakRss / 2 ** 20,
      };
    }
  }
}

export async function measureCommandRtt(o: CommandRttOptions, progress: (line: string) => void = () => {}): Promise<CommandRttResult> {
  const keys = generateKeyPairSync('ed25519');
  const keyDir = mkdtempSync(join(tmpdir(), 'yulan-bench-keys-'));
  const keyFile = join(keyDir, 'trusted-keys.json');
  writeFileSync(keyFile, JSON.stringify([{ id: 'bench', publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }) }]));
  let stack: Stack | undefined;
  let fleet: FleetHandle | undefined;
  try {
    stack = await startStack({}, undefined, { cloudEnv: { YULAN_FIRMWARE_KEYS: keyFile } });
    const s = stack;
    progress(`command-rtt: provisioning and connecting ${o.devices} simulated parcel lockers…`);
    fleet = await runFleet({
      kinds: ['parcel-locker'], countPerKind: o.devices, sites: ['bench'], ratePerDevice: 0.2, qos: 1, seed: 1,
      mqttUrl: s.mqttUrl, cloud: { url: s.cloudUrl, adminToken: s.adminToken }, firmwareKeysFile: keyFile,
    }, pino({ level: 'silent' }));
    const ready = await fleet.ready();
    const ids = fleet.devices.map((d) => d.id);
    progress(`command-rtt: ${ready.connected} online; ${o.commands} locker.open commands at ${o.rate}/s…`);
    const outcomes: Promise<{ status: string; ms: number }>[] = [];
    const begin = performance.now();
    for (let i = 0; i < o.commands; i++) {
      const wait = begin + (i * 1000) / o.rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      outcomes.push(roundTrip(s, ids[i % ids.length]!, i));
    }
    const results = await Promise.all(outcomes);
    const ok = results.filter((r) => r.status === 'succeeded').map((r) => r.ms).sort((a, b) => a - b);
    const other: Record<string, number> = {};
    for (const r of results) if (r.status !== 'succeeded') other[r.status] = (other[r.status] ?? 0) + 1;
    const out: CommandRttResult = {
      options: o, connected: ready.connected,
      commands: { issued: results.length, succeeded: ok.length, other, rttMs: { p50: percentile(ok, 50), p90: percentile(ok, 90), p99: percentile(ok, 99), max: ok.at(-1) ?? Number.NaN } },
    };
    if (o.campaign) {
      progress(`command-rtt: a staged rollout (1 % → 10 % → 100 %) of a ${o.imageKiB} KiB signed image to ${o.devices} lockers…`);
      out.campaign = await campaign(s, o, keys.privateKey);
    }
    return out;
  } finally {
    await fleet?.close();
    await stack?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  }
}

export async function runCommandRtt(argv: string[]): Promise<CommandRttResult> {
  const o = parseCommandRttArgs(argv);
  const machine = describeMachine();
  const r = await measureCommandRtt(o, (line) => process.stderr.write(`${line}\n`));
  const c = r.commands;
  const t1 = table(['devices online', 'commands', 'succeeded', 'other outcomes', 'p50 (ms)', 'p90 (ms)', 'p99 (ms)', 'max (ms)'],
    [[r.connected, c.issued, c.succeeded, Object.entries(c.other).map(([k, v]) => `${k} ${v}`).join(', ') || '—', c.rttMs.p50, c.rttMs.p90, c.rttMs.p99, c.rttMs.max]]);
  const t2 = r.campaign
    ? `\n\n${table(['devices', 'outcome', 'time to complete (s)', 'succeeded', 'failed', 'peak cloud CPU %', 'peak cloud RSS MiB'],
      [[r.campaign.devices, r.campaign.status, r.campaign.completeS, r.campaign.succeeded, r.campaign.failed, r.campaign.peakCloudCpuPct, r.campaign.peakCloudRssMiB]])}`
    : '';
  const md = `## command-rtt — API → device → confirmed by telemetry; a staged firmware rollout\n\n${machineMarkdown(machine)}\n\nOptions: ${o.devices} simulated parcel lockers online (one process of MQTT.js clients, telemetry every 5 s); ${o.commands} \`locker.open\` commands at ${o.rate}/s, each timed from the API call to the cloud reporting it \`succeeded\` — which it does only once the locker's own telemetry shows the door open (long-poll \`GET /commands/:id?wait=\`). Then a ${o.imageKiB} KiB Ed25519-signed image rolled out to every locker in stages 1 % → 10 % → 100 % (advance at 95 %, start spread 10 s, no soak), each device downloading over HTTP and verifying hash and signature. Broker, edge and cloud each in its own process, on the same 2 cores as the simulators.\n\n${t1}${t2}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('command-rtt', md, { machine, result: r });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return r;
}
