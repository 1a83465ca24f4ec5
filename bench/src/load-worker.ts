// A load-generator process: opens one raw MQTT connection per device with its real credentials,
// then publishes protobuf telemetry at the requested rate. Run several of these so the
// generator is never the bottleneck; each reports its own CPU time.
import mqttPacket from 'mqtt-packet';
import { Event, Telemetry, type KnownKind, type Severity } from '@yulan/protos';
import { publishPacket, reading } from './load-packets.js';
import type { DeviceResult, FromWorker, InjectEvent, LoadDevice, LoadJob, ToWorker } from './load-protocol.js';
import { connected, newLive, openSocket, PINGREQ, Reconnector, sendPackets, type Live } from './load-session.js';

const send = (m: FromWorker): void => { process.send?.(m); };
let reconnector: Reconnector | undefined;

function connectOne(job: LoadJob, dev: LoadDevice, index: number): Promise<Live> {
  const live = newLive(job, dev, index);
  return openSocket(job, live).then(() => live);
}

/** Connects every device; refused ones retry after a pause, as real devices do (a burst of
 * first connects can outrun the cloud's secret checks, and the broker then answers
 * CONNACK 3 "server unavailable"). `failed` is what still failed after the last round. */
async function connectAll(job: LoadJob): Promise<{ live: Live[]; failed: number }> {
  const live: Live[] = [];
  let todo = job.devices.map((d, i) => ({ d, i }));
  for (let round = 0; round < 4 && todo.length > 0; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, 2000 * round));
    const failed: typeof todo = [];
    let next = 0;
    await Promise.all(Array.from({ length: job.connectConcurrency }, async () => {
      for (let k = next++; k < todo.length; k = next++) {
        const t = todo[k]!;
        try { live.push(await connectOne(job, t.d, t.i)); } catch { failed.push(t); }
      }
    }));
    todo = failed;
  }
  return { live, failed: todo.length };
}

async function publishFor(job: LoadJob, live: Live[]): Promise<void> {
  const tickMs = job.tickMs ?? 10;
  const end = Date.now() + job.durationMs;
  let last = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() >= end) { clearInterval(timer); resolve(); return; }
      const now = Date.now();
      // Credit by elapsed time, not per tick: on a busy machine timers fire late, and the
      // offered load must stay what was asked for (late ticks send what fell due).
      const dt = now - last;
      last = now;
      for (const l of live) {
        if (l.periodic) {
          l.eventCredit += (l.periodic.ratePerDevice * dt) / 1000;
          if (l.eventCredit >= 1) {
            l.eventCredit -= 1;
            inject(l, [l.periodic.event]);
          }
        }
        l.credit += (l.rate * dt) / 1000;
        if (l.credit < 1) continue;
        // One write per device per tick: every message due in this tick, concatenated.
        const parts: { buf: Buffer; qos: 0 | 1; id: number }[] = [];
        while (l.credit >= 1) {
          l.credit -= 1;
          l.seq += 1;
          const bytes = Telemetry.encode({ header: { deviceId: l.dev.id, kind: l.dev.kind as KnownKind, seq: l.seq, tsMs: now, firmwareVersion: 'bench' }, ...reading(l.dev.kind, l.seq) });
          const id = ((l.seq - 1) % 65535) + 1;
          parts.push({ buf: publishPacket(l.topic, bytes, job.qos, id), qos: job.qos, id });
        }
        sendPackets(l, parts);
      }
    }, tickMs);
  });
}

/** Publishes events in the device's own sequence space (the edge dedupes per device), QoS 1. */
function inject(l: Live, events: InjectEvent[]): { seqs: number[]; atMs: number[] } {
  const seqs: number[] = [];
  const atMs: number[] = [];
  for (const e of events) {
    l.seq += 1;
    l.events += 1;
    const now = Date.now();
    const bytes = Event.encode({
      header: { deviceId: l.dev.id, kind: l.dev.kind as KnownKind, seq: l.seq, tsMs: now, firmwareVersion: 'bench' },
      type: e.type, severity: e.severity as Severity, message: e.message, attributes: e.attributes,
    });
    const id = ((l.seq - 1) % 65535) + 1;
    sendPackets(l, [{ buf: publishPacket(l.eventTopic, bytes, 1, id), qos: 1, id }]);
    seqs.push(l.seq);
    atMs.push(now);
  }
  return { seqs, atMs };
}

async function waitForAcks(live: Live[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && live.some((l) => l.acked < l.seq)) await new Promise((r) => setTimeout(r, 50));
}

function disconnect(l: Live): Promise<void> {
  const socket = l.socket;
  if (!l.up || !socket) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    setTimeout(() => { socket.destroy(); resolve(); }, 5000).unref();
  });
}

let job: LoadJob | undefined;
let live: Live[] = [];
process.on('message', (msg: ToWorker) => {
  void (async () => {
    try {
      if (msg.type === 'start') {
        job = msg.job;
        const t0 = Date.now();
        // Keep-alive: the broker drops a client silent for 1.5 × keep-alive, and idle devices
        // publish less often than that. Pinging starts now: connecting a large fleet can
        // take longer than the keep-alive.
        const ka = job.keepaliveS ?? 0;
        if (ka > 0) setInterval(() => { for (const s of connected) s.write(PINGREQ); }, ka * 500).unref();
        const r = await connectAll(job);
        live = r.live;
        reconnector = new Reconnector(job);
        for (const l of live) reconnector.watch(l);
        send({ type: 'connected', devices: live.length, failed: r.failed, connectMs: Date.now() - t0 });
      } else if (msg.type === 'publish' && job) {
        const cpu0 = process.cpuUsage();
        const t0 = Date.now();
        await publishFor(job, live);
        if (job.qos === 1) await waitForAcks(live, 60_000);
        const cpu = process.cpuUsage(cpu0);
        const results: DeviceResult[] = live.map((l) => ({
          id: l.dev.id, published: l.seq, acked: job!.qos === 1 ? l.acked : l.seq, events: l.events,
          ...(l.droppedAtSeq !== undefined ? { droppedAtSeq: l.droppedAtSeq } : {}),
        }));
        if (reconnector) reconnector.stopping = true;
        await Promise.all(live.map(disconnect));
        send({ type: 'done', results, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, wallMs: Date.now() - t0, ...(job.reconnect && reconnector ? { storm: reconnector.stats } : {}) });
      } else if (msg.type === 'inject') {
        const l = live.find((x) => x.dev.id === msg.deviceId);
        if (!l) throw new Error(`inject: no live device ${msg.deviceId}`);
        send({ type: 'injected', ref: msg.ref, deviceId: msg.deviceId, ...inject(l, msg.events) });
      } else if (msg.type === 'stop') {
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  })();
});
