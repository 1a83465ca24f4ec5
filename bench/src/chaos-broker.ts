// npm run chaos -- broker-kill [--devices 10 --kill-after 3000 --window 8 --modes memory,redis,redis-2-workers,redis-worker]
// npm run chaos -- slow-consumer [--devices 10 --subscribers 3 --duration 15 --drain-timeout 3000 --payload 2048]
// broker-kill: a QoS 1 stream from N devices to a persistent-session subscriber (edge-like,
// clean session off); the broker is SIGKILLed mid-stream and restarted on the same ports.
// Counted by (device, seq): every PUBACK the devices got against what the subscriber got.
// slow-consumer: the same stream to healthy subscribers, with and without one subscriber
// that stops reading its socket; how the others fare and when the broker cuts it.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { connectAsync, type MqttClient } from 'mqtt';
import { launchRedis, type RedisServer } from '@yulan/testkit';
import { brokerUnderTest, childPids, device, fakeDeviceAuth, keyOf, qos1Stream } from './chaos-broker-kit.js';
import { registerFault } from './chaos.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';

const KillMode = { Memory: 'memory', Redis: 'redis', Redis2: 'redis-2-workers', RedisWorker: 'redis-worker' } as const;
type KillMode = (typeof KillMode)[keyof typeof KillMode];
const KILL_LABEL: Record<KillMode, string> = {
  memory: 'default (in-memory sessions), 1 process, SIGKILL + restart',
  redis: 'Redis (AOF, fsync always), 1 process, SIGKILL + restart',
  'redis-2-workers': 'Redis, 2 workers, SIGKILL of primary and workers + restart',
  'redis-worker': 'Redis, 2 workers, SIGKILL of one worker (primary restarts it)',
};
const FILTER = 'yulan/v1/+/+/+/telemetry';

interface KillResult { mode: KillMode; acked: number; received: number; lost: number; duplicates: number; restartMs: number; sessionPresent: boolean }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function killRun(mode: KillMode, o: { devices: number; killAfter: number; window: number }): Promise<KillResult> {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-chaos-broker-'));
  const redis: RedisServer | undefined = mode === KillMode.Memory ? undefined : await launchRedis({ appendonly: true, appendfsync: 'always' });
  const cloud = await fakeDeviceAuth();
  const workers = mode === KillMode.Redis2 || mode === KillMode.RedisWorker ? '2' : '1';
  const b = await brokerUnderTest(dir, cloud.url, redis ? { YULAN_BROKER_REDIS_URL: redis.url, YULAN_BROKER_WORKERS: workers } : {});
  const clients: MqttClient[] = [];
  try {
    await b.start();
    const received = new Set<string>();
    let duplicates = 0;
    let sessionPresent = true;
    let connects = 0;
    const sub = await connectAsync(b.mqttUrl, { clientId: 'edge:chaos', username: 'edge', password: b.edgePassword, clean: false, protocolVersion: 4, reconnectPeriod: 250 });
    clients.push(sub);
    sub.on('connect', (ack) => { if (++connects > 0) sessionPresent = ack.sessionPresent; });
    sub.on('message', (_t, payload) => {
      const k = keyOf(payload);
      if (received.has(k)) duplicates++;
      else received.add(k);
    });
    await sub.subscribeAsync(FILTER, { qos: 1 });
    const acked = new Set<string>();
    const ids = Array.from({ length: o.devices }, (_, i) => `env-ck${String(i).padStart(4, '0')}`);
    const devs = await Promise.all(ids.map((id) => device(b.mqttUrl, id)));
    clients.push(...devs);
    const streams = devs.map((c, i) => qos1Stream(c, ids[i]!, acked, o.window));
    while (acked.size < o.killAfter) await sleep(5);
    const t0 = Date.now();
    if (mode === KillMode.RedisWorker) {
      const [victim] = childPids(b.service().proc.pid!);
      if (victim) process.kill(victim, 'SIGKILL');
      await sleep(1000); // devices on the other worker keep streaming for a moment
      for (const s of streams) s.stop();
    } else {
      await b.kill();
      for (const s of streams) s.stop();
      await b.start();
    }
    const restartMs = Date.now() - t0;
    // Wait for the subscriber: every acknowledged message, or 10 s without progress.
    let last = -1;
    for (let idle = 0; idle < 100 && [...acked].some((k) => !received.has(k)); ) {
      await sleep(100);
      idle = received.size === last ? idle + 1 : 0;
      last = received.size;
    }
    const lostKeys = [...acked].filter((k) => !received.has(k));
    const lost = lostKeys.length;
    if (lost > 0) process.stderr.write(`broker-kill ${mode}: ${lost} lost, e.g. ${lostKeys.slice(0, 12).join(' ')}; subscriber connects ${connects}\n`);
    return { mode, acked: acked.size, received: [...acked].filter((k) => received.has(k)).length, lost, duplicates, restartMs, sessionPresent };
  } finally {
    for (const c of clients) c.end(true);
    await b.stop();
    await cloud.close();
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runBrokerKill(argv: string[]): Promise<KillResult[]> {
  const { values } = parseArgs({ args: argv, options: {
    devices: { type: 'string', default: '10' }, 'kill-after': { type: 'string', default: '3000' }, window: { type: 'string', default: '8' },
    modes: { type: 'string', default: Object.values(KillMode).join(',') },
  } });
  const o = { devices: Number(values.devices), killAfter: Number(values['kill-after']), window: Number(values.window) };
  const modes = String(values.modes).split(',') as KillMode[];
  for (const m of modes) if (!Object.values(KillMode).includes(m)) throw new Error(`unknown mode "${m}"`);
  const results: KillResult[] = [];
  for (const mode of modes) {
    process.stderr.write(`broker-kill: ${KILL_LABEL[mode]}…\n`);
    results.push(await killRun(mode, o));
  }
  const rows = results.map((r) => [KILL_LABEL[r.mode], r.acked, r.received, r.lost, `${fmt((100 * r.lost) / Math.max(1, r.acked))} %`, r.duplicates, r.sessionPresent ? 'yes' : 'no', r.restartMs]);
  const md = `## chaos: broker-kill — SIGKILL mid QoS 1 stream, restart\n\n${machineMarkdown(describeMachine())}\n\n${o.devices} devices each publish QoS 1 with ${o.window} in flight to one persistent-session subscriber (clean session off, QoS 1, reading all along); the broker is SIGKILLed once ${o.killAfter} PUBACKs have arrived and restarted on the same ports. "acked" = messages whose PUBACK a device received; "lost" = acked but never delivered; "session kept" = the subscriber's reconnect found its session.\n\n${table(['broker', 'acked', 'delivered', 'lost', 'lost %', 'duplicates', 'session kept', 'kill → healthy ms'], rows)}\n\nIn-memory mode loses the subscriber's session and everything in flight or queued for it; that is the documented single-process trade-off. With Redis the broker acknowledges QoS 1 only after the message is queued in Redis (\`publishBeforeAck\`, broker/README.md), and Redis (AOF, fsync always) keeps it across the kill, so nothing acknowledged is lost; duplicates are messages delivered before the kill whose PUBACK from the subscriber had not been recorded.\n`;
  process.stdout.write(`\n${md}\n`);
  publish('chaos-broker-kill', md, { options: o, results });
  return results;
}

/** Subscribes, reads the SUBACK, then never reads its socket again. */
async function frozenSubscriber(port: number, password: string): Promise<ReturnType<typeof connect>> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.on('error', () => undefined);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const suback = new Promise<void>((resolve) => parser.on('packet', (p: mqttPacket.Packet) => p.cmd === 'suback' && resolve()));
  const onData = (d: Buffer): void => { parser.parse(d); };
  socket.on('data', onData);
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'edge:frozen', clean: true, keepalive: 0, username: 'edge', password: Buffer.from(password) }));
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: FILTER, qos: 1 }] }));
  await suback;
  socket.off('data', onData);
  socket.pause();
  return socket;
}

interface SlowOptions { devices: number; subscribers: number; durationS: number; drainMs: number; payloadBytes: number }

interface SlowResult { frozen: boolean; acked: number; ackedPerS: number; perSubPerS: number; p50: number; p99: number; max: number; lost: number; maxAckGapMs: number; cutAfterS: number | undefined; slowConsumerDisconnects: number }

async function slowRun(frozen: boolean, o: SlowOptions): Promise<SlowResult> {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-chaos-slow-'));
  const cloud = await fakeDeviceAuth();
  const b = await brokerUnderTest(dir, cloud.url, { YULAN_BROKER_DRAIN_TIMEOUT_MS: String(o.drainMs) });
  const clients: MqttClient[] = [];
  let frozenSocket: ReturnType<typeof connect> | undefined;
  try {
    await b.start();
    const latencies: number[] = [];
    const got = Array.from({ length: o.subscribers }, () => new Set<string>());
    for (let i = 0; i < o.subscribers; i++) {
      const s = await connectAsync(b.mqttUrl, { clientId: `edge:ok${i}`, username: 'edge', password: b.edgePassword, protocolVersion: 4, reconnectPeriod: 0 });
      s.on('message', (_t, payload) => {
        got[i]!.add(keyOf(payload));
        if (i === 0) latencies.push(Date.now() - Number(payload.toString().split(':')[2]));
      });
      await s.subscribeAsync(FILTER, { qos: 1 });
      clients.push(s);
    }
    if (frozen) frozenSocket = await frozenSubscriber(Number(new URL(b.mqttUrl).port), b.edgePassword);
    const acked = new Set<string>();
    const ids = Array.from({ length: o.devices }, (_, i) => `env-cs${String(i).padStart(4, '0')}`);
    const devs = await Promise.all(ids.map((id) => device(b.mqttUrl, id)));
    clients.push(...devs);
    let lastAck = Date.now();
    let maxAckGapMs = 0;
    const onAck = (): void => { const now = Date.now(); maxAckGapMs = Math.max(maxAckGapMs, now - lastAck); lastAck = now; };
    const t0 = Date.now();
    let cutAfterS: number | undefined;
    const streams = devs.map((c, i) => qos1Stream(c, ids[i]!, acked, 8, onAck, o.payloadBytes));
    while (Date.now() - t0 < o.durationS * 1000) {
      await sleep(250);
      if (frozen && cutAfterS === undefined && Number((await b.metrics()).slowConsumerDisconnects) > 0) cutAfterS = (Date.now() - t0) / 1000;
    }
    for (const s of streams) s.stop();
    const seconds = (Date.now() - t0) / 1000;
    for (let i = 0; i < 100 && got.some((g) => [...acked].some((k) => !g.has(k))); i++) await sleep(100);
    const lost = got.reduce((a, g) => a + [...acked].filter((k) => !g.has(k)).length, 0);
    const m = await b.metrics();
    const sorted = [...latencies].sort((x, y) => x - y);
    const perSub = got.reduce((a, g) => a + g.size, 0) / o.subscribers / seconds;
    return { frozen, acked: acked.size, ackedPerS: acked.size / seconds, perSubPerS: perSub, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, lost, maxAckGapMs, cutAfterS, slowConsumerDisconnects: Number(m.slowConsumerDisconnects) };
  } finally {
    frozenSocket?.destroy();
    for (const c of clients) c.end(true);
    await b.stop();
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runSlowConsumer(argv: string[]): Promise<SlowResult[]> {
  const { values } = parseArgs({ args: argv, options: {
    devices: { type: 'string', default: '10' }, subscribers: { type: 'string', default: '3' }, duration: { type: 'string', default: '15' }, 'drain-timeout': { type: 'string', default: '3000' },
    payload: { type: 'string', default: '2048' },
  } });
  const o: SlowOptions = { devices: Number(values.devices), subscribers: Number(values.subscribers), durationS: Number(values.duration), drainMs: Number(values['drain-timeout']), payloadBytes: Number(values.payload) };
  const results: SlowResult[] = [];
  for (const frozen of [false, true]) {
    process.stderr.write(`slow-consumer: ${frozen ? 'with' : 'without'} a frozen subscriber…\n`);
    results.push(await slowRun(frozen, o));
  }
  const rows = results.map((r) => [r.frozen ? 'one frozen subscriber' : 'baseline', r.ackedPerS, r.perSubPerS, r.p50, r.p99, r.max, r.maxAckGapMs, r.lost, r.cutAfterS === undefined ? '—' : `${fmt(r.cutAfterS)} s`, r.slowConsumerDisconnects]);
  const md = `## chaos: slow-consumer — one subscriber stops reading\n\n${machineMarkdown(describeMachine())}\n\n${o.devices} devices publish QoS 1 (8 in flight each, ~${o.payloadBytes}-byte payloads) for ${o.durationS} s to ${o.subscribers} healthy QoS 1 subscribers; in the second run one more subscriber on the same filter reads its SUBACK and then never reads its socket. Default single-process broker, drain timeout ${o.drainMs} ms (YULAN_BROKER_DRAIN_TIMEOUT_MS; default 10 s). Latency is device send → first healthy subscriber, ms. "max PUBACK gap" is the longest time no device got an acknowledgement: how long publishers were held.\n\n${table(['run', 'acked/s', 'delivered/s per healthy sub', 'p50 ms', 'p99 ms', 'max ms', 'max PUBACK gap ms', 'lost (healthy subs)', 'frozen one cut after', 'slowConsumerDisconnects'], rows)}\n\nQoS 1 to a subscriber that stops reading pushes back on the publishers once its socket buffer is full (Aedes parks the delivery until drain), so the healthy subscribers wait too — for at most the drain timeout, after which the frozen subscriber is disconnected and the stream resumes; nothing acknowledged is lost. QoS 0 to a frozen subscriber is dropped instead of pushing back (broker/test/flow.test.ts).\n`;
  process.stdout.write(`\n${md}\n`);
  publish('chaos-slow-consumer', md, { options: o, results });
  return results;
}

registerFault('broker-kill', { about: 'SIGKILL the broker mid QoS 1 stream and restart: acked vs delivered, in-memory vs Redis', run: runBrokerKill });
registerFault('slow-consumer', { about: 'one subscriber stops reading: how the others fare, when it is cut', run: runSlowConsumer });
