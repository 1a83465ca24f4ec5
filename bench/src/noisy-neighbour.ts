// npm run bench -- noisy-neighbour [--quiet 100 --rate 2 --seconds 20 --quota 50]
// One device flooding QoS 0 at full speed while the rest of the fleet publishes normally:
// the fleet's broker latency (device send → subscriber receive) without the flood, with it,
// and with it under per-device publish quotas (YULAN_QUOTA_MSGS_PER_SEC).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { DeviceKind, KindSlug, deviceTopic } from '@yulan/protos';
import type { FloodJob, FloodResult } from './flood-worker.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { getJson, registerDevices, startStack, type Stack } from './stack.js';

const FLOOD_WORKER = fileURLToPath(new URL('../dist/flood-worker.js', import.meta.url));
const KIND = { kind: DeviceKind.ENV_MONITOR, slug: KindSlug[DeviceKind.ENV_MONITOR] };

interface Options { quiet: number; rate: number; seconds: number; quota: number }
interface Phase { run: string; quietSent: number; quietReceived: number; p50: number; p99: number; max: number; floodSent: number; floodDelivered: number; quotaRefused: number; floodDisconnects: number }

function parse(argv: string[]): Options {
  const { values } = parseArgs({ args: argv, options: {
    quiet: { type: 'string', default: '100' }, rate: { type: 'string', default: '2' }, seconds: { type: 'string', default: '20' }, quota: { type: 'string', default: '50' },
  } });
  return { quiet: Number(values.quiet), rate: Number(values.rate), seconds: Number(values.seconds), quota: Number(values.quota) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function phase(stack: Stack, run: string, o: Options, quiet: MqttClient[], ids: { id: string; site: string }[], flooder: { id: string; site: string; secret: string } | undefined): Promise<Phase> {
  const sub = await mqtt.connectAsync(stack.mqttUrl, { clientId: `edge:noisy-${run.replace(/\W/g, '')}`, username: 'edge', password: stack.edgeMqttPassword, protocolVersion: 4, reconnectPeriod: 0 });
  const lat: number[] = [];
  let floodDelivered = 0;
  const floodTopic = flooder ? deviceTopic({ site: flooder.site, kind: KIND.kind, deviceId: flooder.id }, 'telemetry') : '';
  sub.on('message', (topic, payload) => {
    if (topic === floodTopic) { floodDelivered++; return; }
    // quiet telemetry only (not the retained presence replayed on subscribe)
    if (topic.endsWith('/telemetry') && payload.length === 64) lat.push(Date.now() - payload.readDoubleLE(0));
  });
  await sub.subscribeAsync('yulan/v1/#', { qos: 1 });
  const before = (await getJson<{ quotaRefused?: number }>(`${stack.brokerHttpUrl}/metrics`, stack.brokerToken)).quotaRefused ?? 0;
  const flood = flooder
    ? new Promise<FloodResult>((resolve) => {
      const w = fork(FLOOD_WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      w.once('message', (m: FloodResult) => resolve(m));
      w.once('exit', (code) => resolve({ sent: 0, disconnects: 0, error: `flood worker exited (${code}) without a result` }));
      w.send({ url: stack.mqttUrl, id: flooder.id, secret: flooder.secret, topic: floodTopic, payloadBytes: 200, seconds: o.seconds + 2 } satisfies FloodJob);
    })
    : Promise.resolve<FloodResult>({ sent: 0, disconnects: 0 });
  if (flooder) await sleep(2000); // the flood is at full speed before measuring
  process.stderr.write(`noisy-neighbour: ${run}: measuring ${o.seconds} s…\n`);
  let quietSent = 0;
  const end = Date.now() + o.seconds * 1000;
  const tick = 1000 / o.rate;
  await Promise.all(quiet.map(async (c, i) => {
    const topic = deviceTopic({ site: ids[i]!.site, kind: KIND.kind, deviceId: ids[i]!.id }, 'telemetry');
    await sleep(Math.random() * tick);
    while (Date.now() < end) {
      const p = Buffer.alloc(64);
      p.writeDoubleLE(Date.now(), 0);
      quietSent++;
      c.publish(topic, p, { qos: 1 });
      await sleep(tick);
    }
  }));
  const f = await flood;
  if (f.error) process.stderr.write(`noisy-neighbour: ${f.error}\n`);
  const deadline = Date.now() + 30_000;
  while (lat.length < quietSent && Date.now() < deadline) await sleep(200);
  const after = (await getJson<{ quotaRefused?: number }>(`${stack.brokerHttpUrl}/metrics`, stack.brokerToken)).quotaRefused ?? 0;
  await sub.endAsync();
  const s = [...lat].sort((a, b) => a - b);
  return { run, quietSent, quietReceived: lat.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? 0, floodSent: f.sent, floodDelivered, quotaRefused: after - before, floodDisconnects: f.disconnects };
}

async function withStack(quota: number, o: Options, runs: { name: string; flood: boolean }[]): Promise<Phase[]> {
  const stack = await startStack(null, [], { brokerEnv: quota > 0 ? { YULAN_QUOTA_MSGS_PER_SEC: String(quota) } : {} });
  const clients: MqttClient[] = [];
  try {
    process.stderr.write(`noisy-neighbour: quota ${quota || 'off'}: registering and connecting ${o.quiet + 1} devices…\n`);
    const devices = await registerDevices(stack, [KIND], o.quiet + 1, 'noisy');
    const flooder = devices.pop()!;
    for (const d of devices) clients.push(await mqtt.connectAsync(stack.mqttUrl, { clientId: d.id, username: d.id, password: d.secret, protocolVersion: 4, reconnectPeriod: 0 }));
    const out: Phase[] = [];
    for (const r of runs) out.push(await phase(stack, r.name, o, clients, devices, r.flood ? flooder : undefined));
    return out;
  } finally {
    for (const c of clients) c.end(true);
    await stack.stop();
  }
}

export async function runNoisyNeighbour(argv: string[]): Promise<Phase[]> {
  const o = parse(argv);
  const machine = describeMachine();
  const results = [
    ...(await withStack(0, o, [{ name: 'no flood', flood: false }, { name: 'flood, no quotas', flood: true }])),
    ...(await withStack(o.quota, o, [{ name: `flood, quota ${o.quota} msg/s per device`, flood: true }])),
  ];
  const rows = results.map((r) => [r.run, r.quietSent, r.quietReceived, r.p50, r.p99, r.max, r.floodSent, r.floodDelivered, r.quotaRefused, r.floodDisconnects]);
  const md = `## noisy-neighbour — one device flooding vs everyone else's latency\n\n${machineMarkdown(machine)}\n\n${fmt(o.quiet)} registered devices publish 64-byte QoS 1 telemetry at ${o.rate} msg/s each for ${o.seconds} s, one subscriber (the edge's account) reads \`yulan/v1/#\` at QoS 1; in the flood runs one more registered device publishes 200-byte QoS 0 as fast as its socket drains, from its own process. Latency is device send → subscriber receive (same machine clock), ms, for the quiet devices only. Broker alone (no edge): this isolates what the broker lets one device do to the others. Quotas: YULAN_QUOTA_MSGS_PER_SEC=${o.quota} (burst 4 s), disconnect after 1,000 refusals in a minute and refuse its reconnects for 60 s (the defaults); the flooder tries to reconnect every second and floods again when it gets in.\n\n${table(['run', 'quiet sent', 'quiet received', 'p50 ms', 'p99 ms', 'max ms', 'flood sent', 'flood delivered', 'refused by quota', 'flooder disconnected (times)'], rows)}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('noisy-neighbour', md, { machine, options: o, results });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return results;
}
