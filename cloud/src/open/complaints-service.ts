import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { EdgeClient } from '../edge-client.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { DbTarget } from '../db/target.js';
import { COMPLAINT_KINDS, SqliteComplaintsStore, type AuditRow, type ComplaintKind, type ComplaintRow, type ComplaintsStore } from './complaints-store.js';
import { openComplaintsStore } from './pg-complaints-store.js';
import { ProofOfWork } from './proof-of-work.js';

export interface ComplaintsOptions {
  /** `<dataDir>/complaints.sqlite` or ':memory:' (opened here), unless `store` is given */
  file?: string;
  /** an opened store (openComplaints: SQLite or PostgreSQL) */
  store?: ComplaintsStore;
  /** AES key of the contacts at rest (`<dataDir>/complaints.key`, made 0600 on first use); undefined: an in-memory key */
  keyFile?: string;
  devices: DeviceRepository;
  edge: EdgeClient;
  logger: Logger;
  /** proof-of-work difficulty in leading zero bits (default 14: ~16 k hashes) */
  powBits?: number;
  /** complaints per hour per client address (default 5), counted in the store: one budget for every cloud */
  perAddressPerHour?: number;
  now?: () => number;
}

export interface NewComplaint { site: string; kind: string; contact?: string; challenge: string; nonce: string; website?: string }
export interface PublicComplaint { site: string; kind: ComplaintKind; createdAt: string; status: 'open' | 'closed'; closedAt: string | null; resolution: string | null }
export interface OperatorComplaint extends PublicComplaint { id: string; hasContact: boolean; evidence: unknown; contact?: string }

const DEDUPE_MS = 10 * 60_000;
const HOUR_MS = 3_600_000;
const bad = (m: string): CloudError => new CloudError(CloudErrorCode.Validation, m);
const hash = (s: string): string => createHash('sha256').update(s).digest('base64url');

/**
 * One-tap pollution complaints (一键投诉), anonymous. Spam resistance, in the order
 * checked: a per-address budget, a honeypot field, a single-use proof of work, and a
 * repeat of the same site and kind from the same address within 10 minutes answered with
 * the first receipt instead of a new complaint. The optional contact is personal data:
 * encrypted at rest, never in a list or in open data, shown to an operator only on an
 * explicit, audited request, and erased when the complaint is closed.
 */
export class ComplaintsService {
  readonly pow: ProofOfWork;
  readonly store: ComplaintsStore;
  /** settles once the store has accepted this cloud's contact key (rejects on another key) */
  readonly ready: Promise<void>;
  private readonly key: Buffer;
  private readonly recent = new Map<string, { at: number; id: string; receipt: string }>();
  readonly rejected = { rate: 0, honeypot: 0, proof: 0, input: 0 };

  constructor(private readonly o: ComplaintsOptions) {
    const now = o.now ?? Date.now;
    this.key = loadKey(o.keyFile);
    this.pow = new ProofOfWork(o.powBits ?? 14, 10 * 60_000, now, createHmac('sha256', this.key).update('yulan complaints proof of work').digest());
    if (!o.store && o.file === undefined) throw new CloudError(CloudErrorCode.Internal, 'complaints: a store or a file is needed');
    this.store = o.store ?? new SqliteComplaintsStore(o.file as string);
    const check = createHmac('sha256', this.key).update('yulan complaints key check').digest('base64url');
    this.ready = this.store.keyCheck(check).then((stored) => {
      if (stored !== check) {
        throw new CloudError(CloudErrorCode.Internal, `the complaints' contacts were encrypted with another key than ${o.keyFile ?? 'this in-memory key'}: ` +
          'every cloud sharing the database needs the same complaints.key (copy it from the first cloud; docs/deploy.md)');
      }
    });
    // Awaited by every use (and by openComplaints); never an unhandled rejection meanwhile.
    this.ready.catch(() => undefined);
  }

  private now(): number { return (this.o.now ?? Date.now)(); }

  async submit(c: NewComplaint, address: string): Promise<{ id: string; receipt: string; status: 'open'; repeated: boolean }> {
    await this.ready;
    // Keyed hash: the store never holds the addresses, and a guess cannot be checked without the key.
    const addressKey = createHmac('sha256', this.key).update(`rate|${address}`).digest('base64url');
    if (await this.store.takeSubmission(addressKey, this.now(), HOUR_MS, this.o.perAddressPerHour ?? 5) > 0) {
      this.rejected.rate++;
      throw new CloudError(CloudErrorCode.TooManyRequests, 'too many complaints from this address; please try again later');
    }
    if (c.website) {
      // A bot filled the hidden field: it gets a receipt-shaped answer that leads nowhere.
      this.rejected.honeypot++;
      this.o.logger.info({ site: c.site }, 'complaint honeypot filled; dropped');
      return { id: randomBytes(8).toString('hex'), receipt: randomBytes(18).toString('base64url'), status: 'open', repeated: false };
    }
    if (!COMPLAINT_KINDS.includes(c.kind as ComplaintKind)) { this.rejected.input++; throw bad(`kind must be one of ${COMPLAINT_KINDS.join(', ')}`); }
    const contact = c.contact?.replace(/[\u0000-\u001f\u007f]/g, '').trim();
    if (contact !== undefined && contact.length > 120) { this.rejected.input++; throw bad('contact is at most 120 characters'); }
    const why = this.pow.redeem(c.challenge, c.nonce);
    if (why) { this.rejected.proof++; throw bad(`proof of work ${why}; fetch a new challenge`); }
    // Single use across every cloud sharing the store, not only this one.
    if (!await this.store.redeemChallenge(hash(c.challenge), Number(c.challenge.split('.')[0]), this.now())) {
      this.rejected.proof++;
      throw bad('proof of work used; fetch a new challenge');
    }
    const monitors = await this.monitors(c.site);
    if (monitors.length === 0) { this.rejected.input++; throw new CloudError(CloudErrorCode.NotFound, `site '${c.site}' not found`); }
    const t = this.now();
    const key = `${address}|${c.site}|${c.kind}`;
    const prev = this.recent.get(key);
    if (prev && t - prev.at < DEDUPE_MS) return { id: prev.id, receipt: prev.receipt, status: 'open', repeated: true };
    const id = `c-${t.toString(36)}-${randomBytes(4).toString('hex')}`;
    const receipt = randomBytes(18).toString('base64url');
    const evidence = await this.evidence(monitors, t);
    await this.store.insert({
      id, receiptHash: hash(receipt), site: c.site, kind: c.kind as ComplaintKind, createdAt: t, status: 'open', closedAt: null, resolution: null,
      contactEnc: contact ? this.encrypt(contact) : null, evidence: JSON.stringify(evidence),
    });
    for (const [k, v] of this.recent) if (t - v.at >= DEDUPE_MS) this.recent.delete(k);
    this.recent.set(key, { at: t, id, receipt });
    return { id, receipt, status: 'open', repeated: false };
  }

  /** The reporter's view by receipt: status only, nothing personal, no evidence. */
  async byReceipt(receipt: string): Promise<PublicComplaint | undefined> {
    await this.ready;
    const r = await this.store.byReceipt(hash(receipt));
    return r && publicView(r);
  }

  async list(q: { status?: 'open' | 'closed'; site?: string; limit: number; offset: number }): Promise<OperatorComplaint[]> {
    await this.ready;
    return (await this.store.list(q)).map((r) => this.operatorView(r, false));
  }

  /** One complaint; with `contact`, the decrypted contact, and the read is audited. */
  async get(id: string, opts: { contact: boolean; actor: string; reason?: string }): Promise<OperatorComplaint> {
    await this.ready;
    const r = await this.store.get(id);
    if (!r) throw new CloudError(CloudErrorCode.NotFound, `complaint '${id}' not found`);
    if (opts.contact && r.contactEnc) {
      await this.store.audit({ at: this.now(), actor: opts.actor, action: 'contact.read', complaintId: id, detail: opts.reason ?? '' });
    }
    return this.operatorView(r, opts.contact);
  }

  async close(id: string, resolution: string, actor: string): Promise<OperatorComplaint> {
    await this.ready;
    const r = await this.store.get(id);
    if (!r) throw new CloudError(CloudErrorCode.NotFound, `complaint '${id}' not found`);
    if (!await this.store.close(id, this.now(), resolution, { actor, action: 'closed', detail: resolution })) {
      throw new CloudError(CloudErrorCode.Conflict, `complaint '${id}' is already closed`);
    }
    return this.operatorView(await this.store.get(id) as ComplaintRow, false);
  }

  async audit(id: string): Promise<AuditRow[]> {
    return this.store.auditOf(id);
  }

  /** Per site: complaints in the last 24 hours and 30 days, by kind (open data). */
  async counts(): Promise<{ site: string; kind: ComplaintKind; last24h: number; last30d: number }[]> {
    const t = this.now();
    const day = new Map((await this.store.counts(t - 86_400_000)).map((r) => [`${r.site}|${r.kind}`, r.open + r.closed]));
    return (await this.store.counts(t - 30 * 86_400_000)).map((r) => ({ site: r.site, kind: r.kind, last24h: day.get(`${r.site}|${r.kind}`) ?? 0, last30d: r.open + r.closed }));
  }

  async shutdown(): Promise<void> { await this.store.shutdown(); }

  private async monitors(site: string): Promise<string[]> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(site)) return [];
    const p = await this.o.devices.list({ kind: 'env-monitor', site, limit: 500, offset: 0 });
    return p.items.filter((d) => d.kind === 'env-monitor').map((d) => d.id);
  }

  /** The site's monitors' newest readings as the edge has them now. An edge that cannot
   * answer does not lose the complaint: the evidence says so instead. */
  private async evidence(ids: string[], at: number): Promise<Record<string, unknown>> {
    try {
      const latest = await this.o.edge.latest(ids);
      return { at: new Date(at).toISOString(), monitors: Object.fromEntries(ids.map((id) => [id, latest[id] ? { ts: new Date(latest[id].ts).toISOString(), fields: latest[id].fields } : null])) };
    } catch (err) {
      this.o.logger.warn({ err }, 'complaint evidence: edge unreachable; stored without readings');
      return { at: new Date(at).toISOString(), monitors: Object.fromEntries(ids.map((id) => [id, null])), error: 'edge unreachable at the time' };
    }
  }

  private operatorView(r: ComplaintRow, withContact: boolean): OperatorComplaint {
    return {
      id: r.id, ...publicView(r), hasContact: r.contactEnc !== null, evidence: JSON.parse(r.evidence) as unknown,
      ...(withContact && r.contactEnc ? { contact: this.decrypt(r.contactEnc) } : {}),
    };
  }

  private encrypt(s: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(s, 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }

  private decrypt(b: Buffer): string {
    const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(0, 12));
    d.setAuthTag(b.subarray(12, 28));
    return Buffer.concat([d.update(b.subarray(28)), d.final()]).toString('utf8');
  }
}

function publicView(r: ComplaintRow): PublicComplaint {
  return {
    site: r.site, kind: r.kind, createdAt: new Date(r.createdAt).toISOString(), status: r.status,
    closedAt: r.closedAt === null ? null : new Date(r.closedAt).toISOString(), resolution: r.resolution,
  };
}

function loadKey(file: string | undefined): Buffer {
  if (!file) return randomBytes(32);
  if (existsSync(file)) {
    const k = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (k.length !== 32) throw new CloudError(CloudErrorCode.Internal, `${file}: not a 32-byte base64 key`);
    return k;
  }
  const k = randomBytes(32);
  writeFileSync(file, k.toString('base64'), { mode: 0o600, flag: 'wx' });
  return k;
}

/** The complaints service on `target` (SQLite file or the `complaints` schema); refuses a
 * key file other than the one the stored contacts were encrypted with. */
export async function openComplaints(o: Omit<ComplaintsOptions, 'file' | 'store'> & { target: DbTarget }): Promise<ComplaintsService> {
  const { target, ...rest } = o;
  const store = await openComplaintsStore(target, o.logger);
  const service = new ComplaintsService({ ...rest, store });
  try {
    await service.ready;
  } catch (err) {
    await store.shutdown();
    throw err;
  }
  return service;
}
