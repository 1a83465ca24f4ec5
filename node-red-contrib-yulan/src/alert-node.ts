import type { YulanConfigNode } from './config-node';
import { EventStream } from './event-source';
import type { Node, NodeAPI } from './red';

interface AlertProps { yulan: string }
interface AlertView { id: string; updatedAt: number; status: string; [k: string]: unknown }

const CLOSED = new Set(['resolved', 'cancelled']);

/**
 * `yulan alert`: open alerts and every change to them, pushed by the cloud
 * (GET /api/v1/alerts/stream, Server-Sent Events): one message per alert change, with
 * msg.topic = its status. On (re)connect the cloud sends every open alert and everything
 * changed since the last event this node saw (Last-Event-ID); changes already sent are
 * dropped, so a reconnect neither repeats nor loses a change. Needs an API token with
 * `alerts:read` (its integration holds the health grant) or the admin token.
 */
export function registerAlertNode(RED: NodeAPI): void {
  RED.nodes.registerType('yulan-alert', function (this: Node, config: AlertProps) {
    RED.nodes.createNode(this, config);
    const cfg = RED.nodes.getNode(config.yulan) as YulanConfigNode | null;
    if (!cfg) {
      this.status({ fill: 'red', shape: 'ring', text: RED._('yulan-config.errors.no-config') });
      return;
    }
    let auth: { base: string; token: string };
    try {
      auth = cfg.apiAuth();
    } catch (err) {
      this.status({ fill: 'red', shape: 'ring', text: (err as Error).message });
      return;
    }
    // alert id → the last change sent (the cloud's updatedAt, which every change moves)
    const changes = new Map<string, number>();
    const open = new Set<string>();
    let synced = false;
    const showCount = (): void => {
      if (synced) this.status({ fill: open.size > 0 ? 'red' : 'green', shape: 'dot', text: RED._('yulan-alert.status.open', { count: open.size }) });
    };
    this.status({ fill: 'yellow', shape: 'ring', text: RED._('yulan-config.status.connecting') });
    const stream = new EventStream(`${auth.base}/api/v1/alerts/stream`, auth.token, {
      open: () => { synced = false; },
      event: (e) => {
        if (e.event === 'synced') {
          synced = true;
          showCount();
          return;
        }
        if (e.event === 'end') {
          let reason = 'ended';
          try { reason = String((JSON.parse(e.data) as { reason?: string }).reason ?? reason); } catch { /* keep */ }
          this.status({ fill: 'red', shape: 'ring', text: RED._('yulan-alert.status.ended', { reason }) });
          return;
        }
        if (e.event !== 'alert') return;
        let a: AlertView;
        try {
          a = JSON.parse(e.data) as AlertView;
        } catch (err) {
          this.error(`alert stream: ${(err as Error).message}`);
          return;
        }
        if ((changes.get(a.id) ?? -1) >= a.updatedAt) return;
        changes.set(a.id, a.updatedAt);
        if (CLOSED.has(a.status)) open.delete(a.id);
        else open.add(a.id);
        this.send({ topic: a.status, payload: a });
        showCount();
      },
      down: (reason, status) => {
        synced = false;
        this.status(status === 401 || status === 403
          ? { fill: 'red', shape: 'ring', text: reason }
          : { fill: 'yellow', shape: 'ring', text: RED._('yulan-alert.status.reconnecting') });
      },
    });
    this.on('close', (_removed, done) => {
      stream.close();
      done();
    });
  } as never);
}
