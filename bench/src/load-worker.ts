// A load-generator process: opens one raw MQTT connection per device with its real credentials,
// then publishes protobuf telemetry at the requested rate. Run several of these so the
// generator is never the bottleneck; each reports its own CPU time.
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { Channel, DeviceKind, Telemetry, deviceTopic, type KnownKind } from '@yulan/protos';
import type { DeviceResult, FromWorker, LoadDevice, LoadJob, ToWorker } from './load-protocol.js';

const send = (m: FromWorker): void => { process.send?.(m); };

interface Live {
  dev: LoadDevice;
  topic: Buffer;
  socket: Socket;
  seq: number;
  acked: number;
  credit: number;
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

function connectOne(job: LoadJob, dev: LoadDevice): Promise<Live> {
  const url = new URL(job.mqttUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port || 1883), url.hostname);
    socket.setNoDelay(true);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const live: Live = {
      dev, socket, seq: 0, acked: 0, credit: 0,
      topic: Buffer.from(deviceTopic({ site: dev.site, kind: dev.kind as KnownKind, deviceId: dev.id }, Channel.Telemetry)),
    };
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`${dev.id}: CONNACK timeout`)); }, 30_000);
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') {
        clearTimeout(timer);
        if (p.returnCode === 0) resolve(live);
        else { socket.destroy(); reject(new Error(`${dev.id}: CONNACK ${p.returnCode}`)); }
      } else if (p.cmd === 'puback') {
        live.acked += 1;
      }
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0,
      clientId: dev.id, username: dev.id, password: Buffer.from(dev.secret),
    }));
  });
}

async function connectAll(job: LoadJob): Promise<{ live: Live[]; failed: number }> {
  const live: Live[] = [];
  let failed = 0;
  const queue = [...job.devices];
  const lanes = Array.from({ length: job.connectConcurrency }, async () => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      try { live.push(await connectOne(job, d)); } catch { failed += 1; }
    }
  });
  await Promise.all(lanes);
  return { live, failed };
}

async function publishFor(job: LoadJob, live: Live[]): Promise<void> {
  const tickMs = 10;
  const perTick = (job.ratePerDevice * tickMs) / 1000;
  const end = Date.now() + job.durationMs;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() >= end) { clearInterval(timer); resolve(); return; }
      const now = Date.now();
      for (const l of live) {
        l.credit += perTick;
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
        const r = await connectAll(job);
        live = r.live;
        send({ type: 'connected', devices: live.length, failed: r.failed, connectMs: Date.now() - t0 });
      } else if (msg.type === 'publish' && job) {
        const cpu0 = process.cpuUsage();
        const t0 = Date.now();
        await publishFor(job, live);
        if (job.qos === 1) await waitForAcks(live, 60_000);
        const cpu = process.cpuUsage(cpu0);
        const results: DeviceResult[] = live.map((l) => ({ id: l.dev.id, published: l.seq, acked: job!.qos === 1 ? l.acked : l.seq }));
        await Promise.all(live.map(disconnect));
        send({ type: 'done', results, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, wallMs: Date.now() - t0 });
      } else if (msg.type === 'stop') {
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  })();
});
