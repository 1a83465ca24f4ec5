// A load-generator process: opens one raw MQTT connection per device with its real credentials,
// then publishes protobuf telemetry at the requested rate. Run several of these so the
// generator is never the bottleneck; each reports its own CPU time.
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { Channel, DeviceKind, Event, Telemetry, deviceTopic, type KnownKind, type Severity } from '@yulan/protos';
import type { DeviceResult, FromWorker, InjectEvent, LoadDevice, LoadJob, PeriodicEvent, ToWorker } from './load-protocol.js';

const send = (m: FromWorker): void => { process.send?.(m); };
const PINGREQ = Buffer.from([0xc0, 0x00]);
/** Every socket past its CONNACK, for keep-alive pings from the moment it connected. */
const connected = new Set<Socket>();

interface Live {
  dev: LoadDevice;
  topic: Buffer;
  eventTopic: Buffer;
  socket: Socket;
  seq: number;
  acked: number;
  credit: number;
  /** Telemetry messages/s of this device. */
  rate: number;
  /** Periodic event of its kind, if any, and the credit towards the next one. */
  periodic: PeriodicEvent | undefined;
  eventCredit: number;
  events: number;
}

/**
 * Writes a PUBLISH by hand: fixed header, remaining length, topic, packet id, payload. The
 * generator must cost far less per message than the broker it measures — MQTT.js spent
 * ~60 µs per QoS 1 publish here, which on a 2-core machine was taken from the broker.
 */
function publishPacket(topic: Buffer, payload: Uint8Array, qos: 0 | 1, messageId: number): Buffer {
  const remaining = 2 + topic.length + (qos ? 2 : 0) + payload.length;
  let lenBytes = 1;
  for (let r = remaining; r >= 128; r = Math.floor(r / 128)) lenBytes++;
  const buf = Buffer.allocUnsafe(1 + lenBytes + remaining);
  let o = 0;
  buf[o++] = qos ? 0x32 : 0x30;
  let r = remaining;
  do {
    let b = r % 128;
    r = Math.floor(r / 128);
    if (r > 0) b |= 0x80;
    buf[o++] = b;
  } while (r > 0);
  buf.writeUInt16BE(topic.length, o);
  o += 2;
  topic.copy(buf, o);
  o += topic.length;
  if (qos) {
    buf.writeUInt16BE(messageId, o);
    o += 2;
  }
  buf.set(payload, o);
  return buf;
}

function reading(kind: number, seq: number): Parameters<typeof Telemetry.encode>[0] {
  const wave = Math.sin(seq / 10);
  switch (kind) {
    case DeviceKind.EV_CHARGER: return { evCharger: { connectorId: 1, status: 3, powerW: 7000 + 100 * wave, energyKwh: seq / 1000, currentA: 30 + wave, voltageV: 230, meterKwh: 1000 + seq / 1000 } };
    case DeviceKind.PARCEL_LOCKER: return { parcelLocker: { compartments: [{ index: 1, doorOpen: false, occupied: seq % 2 === 0, size: 'M', locked: true }], mainsPower: true, supplyVoltageV: 12 } };
    case DeviceKind.FALL_SENSOR: return { fallSensor: { presence: true, motion: 2, heartRateBpm: 70 + 5 * wave, breathingRateBpm: 16, batteryPct: 90 } };
    default: return { envMonitor: { pm1Ugm3: 10, pm25Ugm3: 30 + 10 * wave, pm10Ugm3: 50, temperatureC: 21, humidityPct: 55, noiseDba: 55 + 3 * wave } };
  }
}

function connectOne(job: LoadJob, dev: LoadDevice, index: number): Promise<Live> {
  const url = new URL(job.mqttUrl);
  const addrs = job.localAddresses ?? [];
  const mixed = dev.rate !== undefined || (job.periodicEvents?.length ?? 0) > 0;
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(url.port || 1883), host: url.hostname, ...(addrs.length ? { localAddress: addrs[index % addrs.length] } : {}) });
    socket.setNoDelay(true);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const live: Live = {
      dev, socket, seq: 0, acked: 0, events: 0,
      // Mixed fleets start at a random phase: a thousand devices reporting every 30 s must
      // not all report in the same tick.
      credit: mixed ? Math.random() : 0, eventCredit: Math.random(),
      rate: dev.rate ?? job.ratePerDevice,
      periodic: job.periodicEvents?.find((e) => e.kind === dev.kind),
      topic: Buffer.from(deviceTopic({ site: dev.site, kind: dev.kind as KnownKind, deviceId: dev.id }, Channel.Telemetry)),
      eventTopic: Buffer.from(deviceTopic({ site: dev.site, kind: dev.kind as KnownKind, deviceId: dev.id }, Channel.Event)),
    };
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${dev.id}: CONNACK timeout`)); }, 30_000);
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') {
        clearTimeout(timer);
        if (p.returnCode === 0) {
          connected.add(socket);
          socket.once('close', () => connected.delete(socket));
          resolve(live);
        }
        else { socket.destroy(); reject(new Error(`${dev.id}: CONNACK ${p.returnCode}`)); }
      } else if (p.cmd === 'puback') {
        live.acked += 1;
      }
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.on('close', () => { clearTimeout(timer); reject(new Error(`${dev.id}: closed before CONNACK`)); });
    socket.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: job.keepaliveS ?? 0,
      clientId: dev.id, username: dev.id, password: Buffer.from(dev.secret),
    }));
  });
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
        const parts: Buffer[] = [];
        while (l.credit >= 1) {
          l.credit -= 1;
          l.seq += 1;
          const bytes = Telemetry.encode({ header: { deviceId: l.dev.id, kind: l.dev.kind as KnownKind, seq: l.seq, tsMs: now, firmwareVersion: 'bench' }, ...reading(l.dev.kind, l.seq) });
          parts.push(publishPacket(l.topic, bytes, job.qos, ((l.seq - 1) % 65535) + 1));
        }
        l.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
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
    l.socket.write(publishPacket(l.eventTopic, bytes, 1, ((l.seq - 1) % 65535) + 1));
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
  return new Promise((resolve) => {
    l.socket.once('close', () => resolve());
    l.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    setTimeout(() => { l.socket.destroy(); resolve(); }, 5000).unref();
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
        send({ type: 'connected', devices: live.length, failed: r.failed, connectMs: Date.now() - t0 });
      } else if (msg.type === 'publish' && job) {
        const cpu0 = process.cpuUsage();
        const t0 = Date.now();
        await publishFor(job, live);
        if (job.qos === 1) await waitForAcks(live, 60_000);
        const cpu = process.cpuUsage(cpu0);
        const results: DeviceResult[] = live.map((l) => ({ id: l.dev.id, published: l.seq, acked: job!.qos === 1 ? l.acked : l.seq, events: l.events }));
        await Promise.all(live.map(disconnect));
        send({ type: 'done', results, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, wallMs: Date.now() - t0 });
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
