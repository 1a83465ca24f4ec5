import { channelFilter, decode, parseTopic } from './codec';
import { statusOf, type YulanConfigNode } from './config-node';
import type { Node, NodeAPI, NodeMessage } from './red';

interface StreamProps { yulan: string; site?: string; kind?: string; device?: string; eventType?: string; minSeverity?: string }
const SEVERITY = ['SEVERITY_UNSPECIFIED', 'SEVERITY_INFO', 'SEVERITY_WARNING', 'SEVERITY_CRITICAL'];

/** `yulan telemetry` and `yulan event`: decoded device messages, filtered by site/kind/device
 * (and for events by type and minimum severity). Undecodable messages are counted in the
 * status and reported with node.error, never passed on. */
function streamNode(RED: NodeAPI, type: string, channel: 'telemetry' | 'event'): void {
  RED.nodes.registerType(type, function (this: Node, config: StreamProps) {
    RED.nodes.createNode(this, config);
    const cfg = RED.nodes.getNode(config.yulan) as YulanConfigNode | null;
    if (!cfg) {
      this.status({ fill: 'red', shape: 'ring', text: RED._('yulan-config.errors.no-config') });
      return;
    }
    let filter: string;
    try {
      filter = channelFilter(channel, config.site, config.kind, config.device);
    } catch (err) {
      this.status({ fill: 'red', shape: 'ring', text: (err as Error).message });
      return;
    }
    const minSeverity = Math.max(0, SEVERITY.indexOf(config.minSeverity ?? ''));
    let bad = 0;
    const listener = {
      state: (s: Parameters<typeof statusOf>[1], detail?: string) => this.status(statusOf(RED, s, detail)),
      refused: (f: string) => this.status({ fill: 'red', shape: 'ring', text: RED._('yulan-config.status.sub-refused', { filter: f }) }),
    };
    let unsubscribe: (() => void) | undefined;
    let unwatch: (() => void) | undefined;
    try {
      const conn = cfg.connection();
      unwatch = conn.watch(listener);
      unsubscribe = conn.subscribe(filter, listener, (topic, payload) => {
        const t = parseTopic(topic);
        if (!t || t.channel !== channel) return;
        let decoded: Record<string, unknown>;
        try {
          decoded = decode(channel, payload);
        } catch (err) {
          bad++;
          this.status({ fill: 'yellow', shape: 'dot', text: RED._('yulan-config.status.undecodable', { count: bad }) });
          this.error(`${topic}: ${(err as Error).message}`);
          return;
        }
        if (channel === 'event') {
          if (config.eventType && decoded.type !== config.eventType) return;
          if (SEVERITY.indexOf(String(decoded.severity)) < minSeverity) return;
        }
        const msg: NodeMessage = { topic, site: t.site, kind: t.kind, deviceId: t.deviceId, payload: decoded };
        this.send(msg);
      });
    } catch (err) {
      this.status({ fill: 'red', shape: 'ring', text: (err as Error).message });
    }
    this.on('close', (_removed, done) => {
      unsubscribe?.();
      unwatch?.();
      done();
    });
  } as never);
}

interface PublishProps { yulan: string; topic?: string; qos?: string; retain?: boolean }

/** `yulan publish`: into the account's own namespace `ext/<account>/…` (msg.topic or the
 * configured sub-topic); objects are sent as JSON, strings as UTF-8, buffers as they are. */
function publishNode(RED: NodeAPI): void {
  RED.nodes.registerType('yulan-publish', function (this: Node, config: PublishProps) {
    RED.nodes.createNode(this, config);
    const cfg = RED.nodes.getNode(config.yulan) as YulanConfigNode | null;
    if (!cfg) {
      this.status({ fill: 'red', shape: 'ring', text: RED._('yulan-config.errors.no-config') });
      return;
    }
    let unwatch: (() => void) | undefined;
    try {
      unwatch = cfg.connection().watch({ state: (s, d) => this.status(statusOf(RED, s, d)) });
    } catch (err) {
      this.status({ fill: 'red', shape: 'ring', text: (err as Error).message });
    }
    this.on('input', (msg, send, done) => {
      const sub = String(config.topic || msg.topic || '').replace(/^\/+/, '');
      if (sub === '' || /[+#\u0000]/.test(sub)) return done(new Error(RED._('yulan-publish.errors.topic')));
      const p = msg.payload;
      const payload = Buffer.isBuffer(p) ? p : Buffer.from(typeof p === 'string' ? p : JSON.stringify(p ?? null));
      let conn;
      try { conn = cfg.connection(); } catch (err) { return done(err as Error); }
      const topic = `${conn.namespace}/${sub}`;
      conn.publish(topic, payload, config.qos === '0' ? 0 : 1, config.retain === true).then(() => {
        send({ ...msg, topic });
        done();
      }, (err: Error) => done(err));
    });
    this.on('close', (_removed, done) => {
      unwatch?.();
      done();
    });
  } as never);
}

export function registerStreamNodes(RED: NodeAPI): void {
  streamNode(RED, 'yulan-telemetry', 'telemetry');
  streamNode(RED, 'yulan-event', 'event');
  publishNode(RED);
}
