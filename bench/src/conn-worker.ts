// A connection-holding process for the connections scenario: opens authenticated MQTT
// connections that then sit idle (keep-alive pings only), bound to one source address.
// One process holds at most ~20,000 sockets (the per-process open-file limit here), and
// one source address reaches ~28,000 connections to one port (the ephemeral port range):
// the scenario runs several of these, each on its own 127.0.0.x.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { LoadDevice } from './load-protocol.js';

export type ConnToWorker =
  | { type: 'open'; url: string; devices: LoadDevice[]; localAddress?: string; keepaliveS: number; concurrency: number; retries?: number; ca?: string }
  | { type: 'stop' };

export type ConnFromWorker =
  /** `errors` counts every failed attempt by reason; `failed` the devices never connected;
   * `onRetry` the devices that connected on a later attempt. */
  | { type: 'opened'; ok: number; failed: number; errors: Record<string, number>; ms: number; alive: number; onRetry: number }
  | { type: 'error'; message: string };

const PINGREQ = Buffer.from([0xc0, 0x00]);
const sockets = new Set<Socket>();

function openOne(url: URL, dev: LoadDevice, keepaliveS: number, localAddress: string | undefined, ca?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const where = { port: Number(url.port || 1883), host: url.hostname, ...(localAddress ? { localAddress } : {}) };
    // mqtts://: the TLS handshake is part of what a connect costs (tls-connections scenario).
    const socket: Socket = url.protocol === 'mqtts:' ? tlsConnect({ ...where, ca, servername: 'localhost' }) : connect(where);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(why));
    };
    // Short on purpose: past the broker's file limit the kernel still completes the TCP
    // handshake (listen backlog) and the CONNACK never comes.
    const timer = setTimeout(() => fail('connack-timeout'), 15_000);
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd !== 'connack' || settled) return;
      if (p.returnCode !== 0) { fail(`connack-${p.returnCode}`); return; }
      settled = true;
      clearTimeout(timer);
      sockets.add(socket);
      resolve();
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'socket-error'));
    socket.on('close', () => { sockets.delete(socket); fail('closed-before-connack'); });
    socket.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: keepaliveS,
      clientId: dev.id, username: dev.id, password: Buffer.from(dev.secret),
    }));
  });
}

async function open(msg: Extract<ConnToWorker, { type: 'open' }>): Promise<ConnFromWorker> {
  const url = new URL(msg.url);
  const errors: Record<string, number> = {};
  let ok = 0;
  let onRetry = 0;
  let next = 0;
  const retries = msg.retries ?? 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: msg.concurrency }, async () => {
    for (let i = next++; i < msg.devices.length; i = next++) {
      // A refused or timed-out device tries again the way a field device does: after a
      // jittered wait that grows with each attempt.
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, (1000 + Math.random() * 2000) * attempt));
        try {
          await openOne(url, msg.devices[i]!, msg.keepaliveS, msg.localAddress, msg.ca);
          ok += 1;
          if (attempt > 0) onRetry += 1;
          break;
        } catch (err) {
          const k = (err as Error).message;
          errors[k] = (errors[k] ?? 0) + 1;
        }
      }
    }
  }));
  return { type: 'opened', ok, failed: msg.devices.length - ok, errors, ms: Date.now() - t0, alive: sockets.size, onRetry };
}

let pinger: NodeJS.Timeout | undefined;
process.on('message', (msg: ConnToWorker) => {
  void (async () => {
    try {
      if (msg.type === 'open') {
        // PINGREQ at 3/4 of the keep-alive: the broker drops a client silent for 1.5 ×.
        if (!pinger && msg.keepaliveS > 0) pinger = setInterval(() => { for (const s of sockets) s.write(PINGREQ); }, msg.keepaliveS * 750);
        process.send?.(await open(msg));
      } else if (msg.type === 'stop') {
        process.exit(0);
      }
    } catch (err) {
      process.send?.({ type: 'error', message: (err as Error).message } satisfies ConnFromWorker);
    }
  })();
});
