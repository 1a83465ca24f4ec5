import type { Logger } from 'pino';
import type { CloudIdTags } from './cloud-id-tags.js';
import type { RpcPeer } from './charger-session.js';
import { bump, type GatewayMetrics } from './metrics.js';

export interface LocalListTarget {
  id: string;
  site: string;
  /** the live connection once BootNotification was accepted, else undefined */
  rpc(): RpcPeer | undefined;
}

/**
 * Local authorization lists (OCPP 1.6 Local Auth List Management, docs/ocpp.md §1.1):
 * brings each charger's list up to the cloud list's version — on boot and whenever the
 * gateway's copy moves — asking GetLocalListVersion first, then SendLocalList Differential
 * (the tags changed since the charger's version) or Full (it holds none, or a version the
 * copy cannot diff from, or it answered VersionMismatch). The charger can then authorize
 * while offline. A charger answering -1, NotSupported or a CALLERROR is left alone until it
 * reconnects. One push per charger at a time; a request meanwhile runs once after it.
 */
export class LocalLists {
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #unsupported = new WeakSet<RpcPeer>();

  constructor(private readonly tags: CloudIdTags, private readonly metrics: GatewayMetrics, private readonly logger: Logger) {}

  push(t: LocalListTarget): void {
    if (this.#running.has(t.id)) { this.#again.add(t.id); return; }
    const run = this.#push(t).catch((err: unknown) => {
      bump(this.metrics.localListFailures, (err as { rpcErrorCode?: string }).rpcErrorCode ?? 'error');
      this.logger.info({ chargePoint: t.id, err: (err as Error).message }, 'local list not updated');
    }).finally(() => {
      this.#running.delete(t.id);
      if (this.#again.delete(t.id)) this.push(t);
    });
    this.#running.set(t.id, run);
  }

  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running.values()]);
  }

  async #push(t: LocalListTarget): Promise<void> {
    const rpc = t.rpc();
    if (!rpc || this.#unsupported.has(rpc)) return;
    let res: { listVersion?: number };
    try {
      res = (await rpc.call('GetLocalListVersion', {})) as { listVersion?: number };
    } catch (err) {
      if (['NotImplemented', 'NotSupported'].includes((err as { rpcErrorCode?: string }).rpcErrorCode ?? '')) { this.#unsupported.add(rpc); return; }
      throw err;
    }
    if (res.listVersion === -1) { this.#unsupported.add(rpc); bump(this.metrics.localListSent, 'unsupported'); return; }
    let plan = this.tags.localListFor(t.site, res.listVersion ?? 0);
    if (!plan) { bump(this.metrics.localListSent, 'current'); return; }
    for (let attempt = 0; attempt < 2 && plan; attempt++) {
      const answer = (await rpc.call('SendLocalList', {
        listVersion: plan.version, updateType: plan.full ? 'Full' : 'Differential', localAuthorizationList: plan.entries,
      })) as { status?: string };
      bump(this.metrics.localListSent, `${plan.full ? 'Full' : 'Differential'}:${answer.status ?? ''}`);
      if (answer.status === 'Accepted') return;
      if (answer.status === 'NotSupported') { this.#unsupported.add(rpc); return; }
      // VersionMismatch / Failed: once more with the whole list.
      plan = plan.full ? undefined : this.tags.localListFor(t.site, 0);
    }
  }
}
