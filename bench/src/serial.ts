import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Telemetry } from '@yulan/protos';
import { LockBoardEmulator, Mr60fda1Emulator, Pms5003Emulator, PtyPair, socatInstalled, type SerialEmulator } from '@yulan/device-sims';
import { measureParsing } from './serial-parse.js';
import { procUsage, startService, waitFor } from './procs.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { startStack, type Stack } from './stack.js';

/**
 * npm run bench -- serial [--sensors 32] [--seconds 30] [--samples 300]
 * 1. frames parsed per second per protocol (one core), beside serialport's framing parsers;
 * 2. frame on the wire → MQTT publish at the broker, p50/p99, through a pty and the gateway
 *    process (one radar alone, then one radar among the other sensors);
 * 3. CPU and memory of one gateway process serving N emulated sensors (PMS5003 polled each
 *    second, radars streaming, lock boards), broker and cloud in their own processes.
 */
interface Bound { id: string; kind: string; sensor: string; emu: SerialEmulator; pair: PtyPair; extra: Record<string, unknown> }

function arg(argv: string[], name: string, def: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
}

async function register(stack: Stack, id: string, kind: string): Promise<string> {
  const r = await fetch(`${stack.cloudUrl}/api/v1/devices`, {
    method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, site: 'bench', kind }),
  });
  if (r.status !== 201) throw new Error(`register ${id}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { secret: string }).secret;
}

async function fleet(stack: Stack, n: number, tag: string): Promise<{ devices: Bound[]; secrets: Record<string, { site: string; kind: string; secret: string }> }> {
  const devices: Bound[] = [];
  const secrets: Record<string, { site: string; kind: string; secret: string }> = {};
  for (let i = 0; i < n; i++) {
    // The first is always a radar (the latency probe); then half PMS5003, a quarter radars, a quarter lock boards.
    const type = i === 0 ? 'radar' : i % 4 === 1 ? 'radar' : i % 4 === 2 ? 'lock' : 'pms';
    const id = `${tag}-${type}-${i}`;
    const pair = new PtyPair(join(stack.dir, `${id}-host`), join(stack.dir, `${id}-dev`));
    await pair.plug();
    const kind = type === 'radar' ? 'fall-sensor' : type === 'lock' ? 'parcel-locker' : 'env-monitor';
    const emu = type === 'radar' ? new Mr60fda1Emulator({ path: pair.device })
      : type === 'lock' ? new LockBoardEmulator({ path: pair.device, channels: 24, address: 1 })
        : new Pms5003Emulator({ path: pair.device });
    await emu.start();
    secrets[id] = { site: 'bench', kind, secret: await register(stack, id, kind) };
    const extra = type === 'radar' ? { sensor: 'mr60fda1', intervalS: 3600 } : type === 'lock' ? { sensor: 'lock-board', address: 1, doors: 24, intervalS: 60 }
      : { sensor: 'pms5003', mode: 'passive', intervalS: 1, dutyCycle: false };
    devices.push({ id, kind, sensor: String(extra.sensor), emu, pair, extra });
  }
  return { devices, secrets };
}

async function latency(stack: Stack, probe: Mr60fda1Emulator, id: string, samples: number): Promise<number[]> {
  const sub = await mqtt.connectAsync(stack.mqttUrl, { clientId: `edge:bench-serial-${Date.now()}`, username: 'edge', password: stack.edgeMqttPassword, reconnectPeriod: 0 });
  await sub.subscribeAsync(`yulan/v1/bench/fall-sensor/${id}/telemetry`, { qos: 0 });
  const out: number[] = [];
  let want: { present: boolean; t0: bigint; done(): void } | undefined;
  sub.on('message', (_t, payload) => {
    const m = Telemetry.decode(payload);
    if (want && m.fallSensor?.presence === want.present) { out.push(Number(process.hrtime.bigint() - want.t0) / 1e6); want.done(); }
  });
  for (let i = 0; i < samples; i++) {
    const present = !probe.present;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { want = undefined; resolve(); }, 5000);
      want = { present, t0: process.hrtime.bigint(), done: () => { clearTimeout(timer); want = undefined; resolve(); } };
      probe.setPresence(present);
    });
    await new Promise((r) => setTimeout(r, 20));
  }
  await sub.endAsync();
  return out;
}

async function runGateway(stack: Stack, n: number, tag: string, seconds: number, samples: number) {
  const { devices, secrets } = await fleet(stack, n, tag);
  writeFileSync(join(stack.dir, `${tag}-creds.json`), JSON.stringify({ version: 1, devices: secrets }), { mode: 0o600 });
  const cfg = join(stack.dir, `${tag}-gateway.json`);
  writeFileSync(cfg, JSON.stringify({
    mqttUrl: stack.mqttUrl, credentialsFile: `${tag}-creds.json`,
    devices: devices.map((d) => ({ id: d.id, site: 'bench', kind: d.kind, port: d.pair.host, ...d.extra })),
  }));
  const gw = startService(`gateway-${tag}`, ['gateway', 'serial', '--config', cfg], { PATH: process.env.PATH });
  try {
    let seen = '';
    const online = async (): Promise<boolean> => {
      const r = await fetch(`${stack.cloudUrl}/api/v1/devices?site=bench&limit=100`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
      const body = (await r.json()) as { items?: { id: string; status: string }[] };
      const items = (body.items ?? []).filter((x) => x.id.startsWith(`${tag}-`));
      seen = `${r.status}: ${items.filter((x) => x.status === 'online').length}/${n} online; not: ${items.filter((x) => x.status !== 'online').map((x) => `${x.id}=${x.status}`).join(' ')}`;
      return items.length === n && items.every((x) => x.status === 'online');
    };
    await waitFor(online, `${n} serial devices online`, 300_000, gw).catch((e: Error) => { throw new Error(`${e.message.split('\n')[0]} — ${seen}`); });
    const lat = await latency(stack, devices[0]!.emu as Mr60fda1Emulator, devices[0]!.id, samples);
    const c0 = procUsage(gw.proc.pid!);
    const t0 = Date.now();
    let rssMax = c0.rssBytes;
    while (Date.now() - t0 < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      rssMax = Math.max(rssMax, procUsage(gw.proc.pid!).rssBytes);
    }
    const c1 = procUsage(gw.proc.pid!);
    const framesIn = devices.reduce((a, d) => a + d.emu.stats.framesSent, 0);
    return { lat, cpuPct: ((c1.cpuMs - c0.cpuMs) / (Date.now() - t0)) * 100, rssMiB: rssMax / 2 ** 20, framesIn };
  } finally {
    await gw.stop();
    for (const d of devices) { await d.emu.close(); await d.pair.unplug(); }
  }
}

export async function runSerial(argv: string[]): Promise<void> {
  const sensors = arg(argv, 'sensors', 32);
  const seconds = arg(argv, 'seconds', 30);
  const samples = arg(argv, 'samples', 300);
  const machine = describeMachine();
  const parse = measureParsing();
  for (const r of parse) process.stdout.write(`parse ${r.protocol}: ${fmt(r.yulan)} frames/s (peer ${r.peerName} ${fmt(r.peer)})\n`);
  if (!socatInstalled()) throw new Error('socat is required for the pty part of the serial benchmark');
  const stack = await startStack(null);
  try {
    const one = await runGateway(stack, 1, 'solo', Math.min(10, seconds), samples);
    const many = await runGateway(stack, sensors, 'fleet', seconds, samples);
    const lat = (l: number[]) => { const s = [...l].sort((a, b) => a - b); return [percentile(s, 50), percentile(s, 99), s.at(-1) ?? Number.NaN]; };
    const md = [
      '## serial — serial sensors through the gateway',
      '',
      machineMarkdown(machine),
      '',
      `Frames parsed per second on one core (64-byte reads). Yulan: frame finding, checksum, resync, decoded values. Peer: serialport 13's framing parsers on the same bytes (no checksum, no resync, no decoding).`,
      '',
      table(['protocol', 'frame bytes', 'Yulan frames/s', 'peer', 'peer frames/s', 'Yulan / peer'],
        parse.map((r) => [r.protocol, r.frameBytes, Math.round(r.yulan), r.peerName, Math.round(r.peer), `${(r.yulan / r.peer).toFixed(2)}×`])),
      '',
      `Frame written by the emulator on the pty → telemetry received from the broker by a subscriber (radar presence change; ${samples} changes, one at a time). Gateway in its own process; broker and cloud in theirs. CPU and peak RSS of the gateway process over ${seconds} s.`,
      '',
      table(['sensors on the gateway', 'latency p50 (ms)', 'p99 (ms)', 'max (ms)', 'samples', 'gateway CPU % of a core', 'gateway RSS MiB', 'frames in from sensors'],
        [[1, ...lat(one.lat), one.lat.length, one.cpuPct, one.rssMiB, one.framesIn], [sensors, ...lat(many.lat), many.lat.length, many.cpuPct, many.rssMiB, many.framesIn]]),
      '',
      `Mix for ${sensors} sensors: radars (body movement every second, heartbeat every 10 s), lock boards of 24 doors, PMS5003 polled once a second (60× the usual rate, to load the gateway).`,
    ].join('\n');
    process.stdout.write(`${md}\n`);
    publish('serial', md, { machine, parse, one, many: { ...many, lat: undefined, latSorted: [...many.lat].sort((a, b) => a - b) } });
  } finally {
    await stack.stop();
  }
}
