import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { Channel, Event, Presence, Telemetry, flattenTelemetry, parseDeviceTopic, type KindSlug } from '@yulan/protos';
import type { SessionHandle } from '../care/contracts.js';
import type { MqttTransport } from '../mqtt-link.js';
import { redactFields } from './health-gate.js';

/** How often presence changes are flushed to fleet streams: one batch per interval,
 * so a presence storm (a site's gateway reboots) costs each console one write, not 500. */
export const PRESENCE_FLUSH_MS = 1000;
export const LIVE_HEARTBEAT_MS = 15_000;

export interface LiveDevice { id: string; site: string; kind: KindSlug }

interface Stream {
  res: ServerResponse;
  device: LiveDevice | undefined;
  /** false: the device's health fields are left out of its telemetry */
  health: boolean;
  heartbeat: NodeJS.Timeout;
}

/**
 * The console's live updates (issue 15) over SSE: every stream gets the fleet's presence
 * changes in batches; a stream opened for one device also gets that device's telemetry
 * (flattened, health fields redacted as on the HTTP API), events, twin reports and
 * command results. The cloud subscribes to a device's topics only while a stream
 * watches it (MQTT subscriptions held per owner, so control's own stay untouched).
 */
export class LiveHub {
  private readonly streams = new Set<Stream>();
  private readonly watchers = new Map<string, number>();
  private pending = new Map<string, { deviceId: string; online: boolean; ts: number }>();
  private readonly flushTimer: NodeJS.Timeout;
  readonly stats = { streams: 0, written: 0, dropped: 0 };

  constructor(private readonly mqtt: MqttTransport, private readonly log: FastifyBaseLogger) {
    mqtt.onMessage((topic, payload) => this.onMessage(topic, payload));
    this.flushTimer = setInterval(() => this.flush(), PRESENCE_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Takes over a raw response; the caller has authorised it. A stream opened with a
   * session ends with it (logout, expiry, role change), as the care page's does. */
  open(res: ServerResponse, device: LiveDevice | undefined, health: boolean, session?: SessionHandle): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no',
    });
    res.write(': connected\n\n');
    const stream: Stream = { res, device, health, heartbeat: setInterval(() => this.raw(stream, ': heartbeat\n\n'), LIVE_HEARTBEAT_MS) };
    this.streams.add(stream);
    this.stats.streams = this.streams.size;
    if (device) this.watch(device, +1);
    const drop = (): void => {
      if (!this.streams.delete(stream)) return;
      clearInterval(stream.heartbeat);
      this.stats.streams = this.streams.size;
      if (device) this.watch(device, -1);
    };
    res.on('close', drop);
    res.on('error', drop);
    if (session) {
      const unwatch = session.onEnd((reason) => {
        if (!res.writableEnded) res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      });
      res.on('close', unwatch);
    }
  }

  close(): void {
    clearInterval(this.flushTimer);
    for (const s of [...this.streams]) s.res.end();
  }

  private filters(d: LiveDevice): string[] {
    return [Channel.Telemetry, Channel.Event, Channel.TwinReported, Channel.CommandResult].map((c) => `yulan/v1/${d.site}/${d.kind}/${d.id}/${c}`);
  }

  private watch(d: LiveDevice, delta: 1 | -1): void {
    const n = (this.watchers.get(d.id) ?? 0) + delta;
    if (n > 0) this.watchers.set(d.id, n);
    else this.watchers.delete(d.id);
    if (delta === 1 && n === 1) for (const f of this.filters(d)) this.mqtt.subscribe(f, 0, 'console-live');
    if (delta === -1 && n === 0) for (const f of this.filters(d)) this.mqtt.unsubscribe(f, 'console-live');
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    const addr = parseDeviceTopic(topic);
    if (!addr) return;
    try {
      if (addr.channel === Channel.Presence) {
        const p = Presence.decode(payload);
        this.pending.set(addr.deviceId, { deviceId: addr.deviceId, online: p.online, ts: Number(p.tsMs) });
        return;
      }
      if (!this.watchers.has(addr.deviceId)) return;
      switch (addr.channel) {
        case Channel.Telemetry: {
          const t = Telemetry.decode(payload);
          const flat = flattenTelemetry(t);
          const ts = Number(t.header?.tsMs ?? Date.now());
          this.toDevice(addr.deviceId, 'telemetry', (s) => {
            const { fields, redacted } = s.health ? { fields: flat.numeric, redacted: [] } : redactFields(s.device!.kind, flat.numeric);
            return { deviceId: addr.deviceId, ts, fields, text: flat.text, ...(redacted.length ? { redacted } : {}) };
          });
          return;
        }
        case Channel.Event: {
          const e = Event.decode(payload);
          this.toDevice(addr.deviceId, 'event', () => ({ deviceId: addr.deviceId, ts: Number(e.header?.tsMs ?? Date.now()), type: e.type, severity: e.severity, message: e.message }));
          return;
        }
        case Channel.TwinReported:
        case Channel.CommandResult:
          // The page re-reads the twin or command through the API (versioned, audited).
          this.toDevice(addr.deviceId, addr.channel === Channel.TwinReported ? 'twin' : 'command', () => ({ deviceId: addr.deviceId }));
          return;
        default:
      }
    } catch (err) {
      this.stats.dropped++;
      this.log.debug({ topic, err: { message: (err as Error).message } }, 'live: undecodable message dropped');
    }
  }

  private toDevice(deviceId: string, event: string, data: (s: Stream) => unknown): void {
    for (const s of this.streams) if (s.device?.id === deviceId) this.raw(s, `event: ${event}\ndata: ${JSON.stringify(data(s))}\n\n`);
  }

  private flush(): void {
    if (this.pending.size === 0) return;
    const batch = JSON.stringify([...this.pending.values()]);
    this.pending = new Map();
    for (const s of this.streams) this.raw(s, `event: presence\ndata: ${batch}\n\n`);
  }

  private raw(s: Stream, text: string): void {
    if (s.res.destroyed || s.res.writableEnded) return;
    s.res.write(text);
    this.stats.written++;
  }
}
