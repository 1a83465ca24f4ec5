// A load-generator process: opens one MQTT connection per device with its real credentials,
// then publishes protobuf telemetry at the requested rate. Run several of these so the
// generator is never the bottleneck; each reports its own CPU time.
import mqtt, { type MqttClient } from 'mqtt';
import { Channel, DeviceKind, Telemetry, deviceTopic, type KnownKind } from '@yulan/protos';
import type { DeviceResult, FromWorker, LoadDevice, LoadJob, ToWorker } from './load-protocol.js';

const send = (m: FromWorker): void => { process.send?.(m); };

interface Live {
  dev: LoadDevice;
  topic: string;
  client: MqttClient;
  seq: number;
  acked: number;
  credit: number;
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

async function connectAll(job: LoadJob): Promise<{ live: Live[]; failed: number }> {
  const live: Live[] = [];
  let failed = 0;
  const queue = [...job.devices];
  const one = async (dev: LoadDevice): Promise<void> => {
    const client = await mqtt.connectAsync(job.mqttUrl, {
      clientId: dev.id, username: dev.id, password: dev.secret, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 60,
    });
    live.push({ dev, client, seq: 0, acked: 0, credit: 0, topic: deviceTopic({ site: dev.site, kind: dev.kind as KnownKind, deviceId: dev.id }, Channel.Telemetry) });
  };
  const lanes = Array.from({ length: job.connectConcurrency }, async () => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      try { await one(d); } catch { failed += 1; }
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
        while (l.credit >= 1) {
          l.credit -= 1;
          l.seq += 1;
          const bytes = Telemetry.encode({ header: { deviceId: l.dev.id, kind: l.dev.kind as KnownKind, seq: l.seq, tsMs: now, firmwareVersion: 'bench' }, ...reading(l.dev.kind, l.seq) });
          l.client.publish(l.topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: job.qos }, (err) => { if (!err) l.acked += 1; });
        }
      }
    }, tickMs);
  });
}

async function waitForAcks(live: Live[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && live.some((l) => l.acked < l.seq)) await new Promise((r) => setTimeout(r, 50));
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
        await Promise.all(live.map((l) => l.client.endAsync()));
        send({ type: 'done', results, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, wallMs: Date.now() - t0 });
      } else if (msg.type === 'stop') {
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  })();
});
