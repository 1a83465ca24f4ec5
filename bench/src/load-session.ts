// One simulated device's MQTT connection in the load generator: CONNECT with its own
// credentials, PUBACK accounting, and — when the job asks for it — reconnecting after the
// broker drops it, the way a device in the field does: wait per its policy, connect again,
// resend what was never acknowledged (DUP), and keep what fell due meanwhile.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { Channel, deviceTopic, type KnownKind } from '@yulan/protos';
import type { LoadDevice, LoadJob, PeriodicEvent, StormStats } from './load-protocol.js';
import { reconnectDelay } from './reconnect-policy.js';

export const PINGREQ = Buffer.from([0xc0, 0x00]);
/** Every socket past its CONNACK, for keep-alive pings from the moment it connected. */
export const connected = new Set<Socket>();
/** The error that ended a socket, for the drop's cause. */
const socketErrors = new WeakMap<Socket, string>();

export interface Live {
  dev: LoadDevice;
  /** Position in the job's device list (picks the source address). */
  index: number;
  topic: Buffer;
  eventTopic: Buffer;
  socket: Socket | undefined;
  /** Past CONNACK 0 on the current socket. */
  up: boolean;
  seq: number;
  acked: number;
  credit: number;
  /** Telemetry messages/s of this device. */
  rate: number;
  /** Periodic event of its kind, if any, and the credit towards the next one. */
  periodic: PeriodicEvent | undefined;
  eventCredit: number;
  events: number;
  /** Reconnecting jobs only: QoS 1 packets sent or due but not acknowledged, by packet id,
   * in send order — resent after a reconnect, so "acked" stays exact across a drop. */
  unacked: Map<number, { buf: Buffer; sent: boolean }> | undefined;
  /** The device's seq when it first lost its connection. */
  droppedAtSeq: number | undefined;
}

/** Why a connect attempt failed: `connack-N`, `timeout`, `closed` or `error`. */
export class ConnectFailure extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

export function newLive(job: LoadJob, dev: LoadDevice, index: number): Live {
  const mixed = dev.rate !== undefined || (job.periodicEvents?.length ?? 0) > 0;
  return {
    dev, index, socket: undefined, up: false, seq: 0, acked: 0, events: 0,
    // Mixed fleets start at a random phase: a thousand devices reporting every 30 s must
    // not all report in the same tick.
    credit: mixed ? Math.random() : 0, eventCredit: Math.random(),
    rate: dev.rate ?? job.ratePerDevice,
    periodic: job.periodicEvents?.find((e) => e.kind === dev.kind),
    topic: Buffer.from(deviceTopic({ site: dev.site, kind: dev.kind as KnownKind, deviceId: dev.id }, Channel.Telemetry)),
    eventTopic: Buffer.from(deviceTopic({ site: dev.site, kind: dev.kind as KnownKind, deviceId: dev.id }, Channel.Event)),
    unacked: job.reconnect ? new Map() : undefined,
    droppedAtSeq: undefined,
  };
}

/** Opens a socket for the device and resolves at CONNACK 0. */
export function openSocket(job: LoadJob, live: Live): Promise<void> {
  const url = new URL(job.mqttUrl);
  const addrs = job.localAddresses ?? [];
  const id = live.dev.id;
  return new Promise((resolve, reject) => {
    const where = { port: Number(url.port || 1883), host: url.hostname, ...(addrs.length ? { localAddress: addrs[live.index % addrs.length] } : {}) };
    const socket: Socket = url.protocol === 'mqtts:' ? tlsConnect({ ...where, ...(job.ca !== undefined ? { ca: job.ca } : {}), servername: 'localhost' }) : connect(where);
    socket.setNoDelay(true);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const fail = (reason: string, message: string): void => { clearTimeout(timer); socket.destroy(); reject(new ConnectFailure(reason, `${id}: ${message}`)); };
    const timer = setTimeout(() => fail('timeout', 'CONNACK timeout'), job.connectTimeoutMs ?? 30_000);
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') {
        clearTimeout(timer);
        if (p.returnCode !== 0) return fail(`connack-${p.returnCode}`, `CONNACK ${p.returnCode}`);
        live.socket = socket;
        live.up = true;
        connected.add(socket);
        socket.once('close', () => { connected.delete(socket); live.up = false; });
        resolve();
      } else if (p.cmd === 'puback') {
        if (live.unacked === undefined) live.acked += 1;
        else if (p.messageId !== undefined && live.unacked.delete(p.messageId)) live.acked += 1;
      }
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', (err: NodeJS.ErrnoException) => { socketErrors.set(socket, err.code ?? 'error'); fail('error', err.message); });
    socket.on('close', () => fail('closed', 'closed before CONNACK'));
    socket.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: job.keepaliveS ?? 0,
      clientId: id, username: id, password: Buffer.from(live.dev.secret),
    }));
  });
}

/** Sends (or, while the device is offline, keeps) packets in order; QoS 1 ones are tracked
 * by packet id when the job reconnects. */
export function sendPackets(live: Live, packets: { buf: Buffer; qos: 0 | 1; id: number }[]): void {
  const up = live.up && live.socket !== undefined;
  if (live.unacked) for (const p of packets) if (p.qos === 1) live.unacked.set(p.id, { buf: p.buf, sent: up });
  if (!up) return;
  live.socket!.write(packets.length === 1 ? packets[0]!.buf : Buffer.concat(packets.map((p) => p.buf)));
}

/** Brings dropped devices back per the job's policy and counts what it took. */
export class Reconnector {
  stopping = false;
  readonly stats: StormStats = { drops: 0, reconnected: 0, reconnectMs: [], attempts: 0, failures: {}, dropCauses: {} };

  constructor(private readonly job: LoadJob) {}

  /** Call once the device is up: from then on a drop starts the reconnect loop. */
  watch(live: Live): void {
    const socket = live.socket;
    if (!this.job.reconnect || !socket) return;
    socket.once('close', () => { if (!this.stopping) void this.reconnect(live, socketErrors.get(socket) ?? 'closed'); });
  }

  private async reconnect(live: Live, cause: string): Promise<void> {
    const policy = this.job.reconnect!;
    const droppedAt = Date.now();
    this.stats.drops += 1;
    this.stats.dropCauses[cause] = (this.stats.dropCauses[cause] ?? 0) + 1;
    live.droppedAtSeq ??= live.seq;
    for (let attempt = 0; !this.stopping; attempt++) {
      await new Promise((r) => setTimeout(r, reconnectDelay(policy, attempt)));
      if (this.stopping) return;
      this.stats.attempts += 1;
      try {
        await openSocket(this.job, live);
      } catch (err) {
        const reason = err instanceof ConnectFailure ? err.reason : 'error';
        this.stats.failures[reason] = (this.stats.failures[reason] ?? 0) + 1;
        continue;
      }
      this.stats.reconnected += 1;
      this.stats.reconnectMs.push(Date.now() - droppedAt);
      // Unacknowledged QoS 1 packets, oldest first: DUP on those sent before ([MQTT-3.3.1-1]),
      // then what fell due while offline.
      const again = [...live.unacked!.values()];
      for (const p of again) {
        if (p.sent) p.buf[0] = p.buf[0]! | 0x08;
        p.sent = true;
      }
      if (again.length) live.socket!.write(Buffer.concat(again.map((p) => p.buf)));
      this.watch(live);
      return;
    }
  }
}
