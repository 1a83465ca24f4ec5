import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { closed } from './helpers.js';

export interface ConnectOptions {
  username: string;
  password: string;
  keepalive?: number;
  will?: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean };
}

/** A raw MQTT 3.1.1 connection: every packet the broker sends, in order, and its close. */
export class Raw {
  readonly packets: mqttPacket.Packet[] = [];
  readonly bytes: Buffer[] = [];
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: mqttPacket.Packet) => {
      this.packets.push(p);
      for (const w of this.#waiters.splice(0)) w();
    });
    parser.on('error', () => undefined);
    this.socket.on('data', (d: Buffer) => {
      this.bytes.push(d);
      parser.parse(d);
    });
    this.socket.on('error', () => undefined);
    this.closed = closed(this.socket);
  }

  static async open(port: number): Promise<Raw> {
    const r = new Raw(port);
    await new Promise<void>((resolve, reject) => {
      r.socket.once('connect', resolve);
      r.socket.once('error', reject);
    });
    return r;
  }

  send(p: mqttPacket.Packet | Buffer): void {
    this.socket.write(Buffer.isBuffer(p) ? p : mqttPacket.generate(p));
  }

  /** Every packet of `cmd` received so far, oldest first (removed from the buffer). */
  take(cmd: string): mqttPacket.Packet[] {
    const out = this.packets.filter((p) => p.cmd === cmd);
    for (const p of out) this.packets.splice(this.packets.indexOf(p), 1);
    return out;
  }

  async count(cmd: string, n: number): Promise<void> {
    while (this.packets.filter((p) => p.cmd === cmd).length < n) {
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), this.closed.then(() => { throw new Error(`closed before ${n} ${cmd}`); })]);
    }
  }

  async next(cmd: string): Promise<mqttPacket.Packet> {
    for (;;) {
      const found = this.packets.find((p) => p.cmd === cmd);
      if (found) {
        this.packets.splice(this.packets.indexOf(found), 1);
        return found;
      }
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), this.closed.then(() => { throw new Error(`closed before ${cmd}`); })]);
    }
  }

  async connect(clientId: string, clean: boolean, o: ConnectOptions): Promise<mqttPacket.IConnackPacket> {
    // mqtt-packet refuses to generate an empty client id without clean session, so such a
    // CONNECT is generated with it and the flag cleared by hand (header 2 bytes, "MQTT" 6, level 1).
    const forceUnclean = clientId === '' && !clean;
    const bytes = mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: clean || forceUnclean, keepalive: o.keepalive ?? 60,
      username: o.username, password: Buffer.from(o.password), ...(o.will ? { will: o.will } : {}),
    });
    if (forceUnclean) bytes[9] = (bytes[9] as number) & ~0x02;
    this.send(bytes);
    return (await this.next('connack')) as mqttPacket.IConnackPacket;
  }
}

/** PUBLISH QoS 0 with the topic given as raw bytes (mqtt-packet would encode a string). */
export function rawPublish(topic: Buffer, payload = Buffer.from('x')): Buffer {
  const remaining = 2 + topic.length + payload.length;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(topic.length);
  return Buffer.concat([Buffer.from([0x30, remaining]), len, topic, payload]);
}
