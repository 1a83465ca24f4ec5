// A subscriber process for fan-in benchmarks: one raw MQTT connection that subscribes,
// acknowledges QoS 1 deliveries and counts what arrives. Kept out of the benchmark's own
// process so counting never competes with orchestration.
import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';

export type SubToWorker = { type: 'start'; url: string; clientId: string; username: string; password: string; filter: string; qos: 0 | 1 } | { type: 'report' } | { type: 'stop' };
export type SubFromWorker = { type: 'ready' } | { type: 'count'; received: number; firstAt: number; lastAt: number } | { type: 'error'; message: string };

const send = (m: SubFromWorker): void => { process.send?.(m); };
let received = 0;
let firstAt = 0;
let lastAt = 0;

process.on('message', (msg: SubToWorker) => {
  if (msg.type === 'report') { send({ type: 'count', received, firstAt, lastAt }); return; }
  if (msg.type === 'stop') { process.exit(0); }
  const url = new URL(msg.url);
  const socket = connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: mqttPacket.Packet) => {
    if (p.cmd === 'publish') {
      const now = Date.now();
      if (received === 0) firstAt = now;
      lastAt = now;
      received += 1;
      if (p.qos === 1 && p.messageId !== undefined) {
        socket.write(Buffer.from([0x40, 0x02, p.messageId >> 8, p.messageId & 0xff]));
      }
    } else if (p.cmd === 'connack') {
      if (p.returnCode !== 0) { send({ type: 'error', message: `subscriber CONNACK ${p.returnCode}` }); return; }
      socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: msg.filter, qos: msg.qos }] }));
    } else if (p.cmd === 'suback') {
      if ((p.granted as (number | { qos: number })[]).some((g) => (typeof g === 'number' ? g : g.qos) === 128)) send({ type: 'error', message: 'subscription refused' });
      else send({ type: 'ready' });
    }
  });
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', (err) => send({ type: 'error', message: err.message }));
  socket.write(mqttPacket.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0,
    clientId: msg.clientId, username: msg.username, password: Buffer.from(msg.password),
  }));
});
