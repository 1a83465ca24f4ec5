import type { Logger } from 'pino';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import { EVERY_SITE, type IdTagAuditRow, type IdTagRecord, type IdTagStatus, type IdTagStore } from './id-tag-store.js';

/** OCPP IdToken: CiString20. Printable ASCII without `/` keeps it a single URL segment. */
export const ID_TAG_RE = /^[\x21-\x2E\x30-\x7E]{1,20}$/;

export interface IdTagView {
  tag: string;
  /** the site the tag is valid at, or null: every site */
  site: string | null;
  status: IdTagStatus;
  /** what a charger is told now: `Expired` once the expiry date has passed */
  effectiveStatus: IdTagStatus;
  expiryDate: string | null;
  parentIdTag: string | null;
  note: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One row of the gateways' sync feed. */
export interface IdTagChange {
  tag: string;
  site: string | null;
  status: IdTagStatus;
  expiryDate: string | null;
  parentIdTag: string | null;
  deleted: boolean;
  version: number;
}

export interface IdTagInput {
  status?: IdTagStatus;
  /** ISO-8601, or null to clear */
  expiryDate?: string | null;
  parentIdTag?: string | null;
  note?: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const siteOf = (scope: string): string | null => (scope === EVERY_SITE ? null : scope);

/**
 * The operator's id tag list (docs/ocpp.md §1.4): which cards may charge, where and until
 * when. The OCPP gateways pull it (`changes`) and answer Authorize / StartTransaction from
 * their copy; the cloud never talks OCPP itself.
 */
export class IdTagService {
  constructor(
    private readonly store: IdTagStore,
    private readonly devices: DeviceRepository,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  view(r: IdTagRecord): IdTagView {
    const expired = r.status === 'Accepted' && r.expiryMs !== null && r.expiryMs <= this.now();
    return {
      tag: r.tag, site: siteOf(r.scope), status: r.status, effectiveStatus: expired ? 'Expired' : r.status,
      expiryDate: iso(r.expiryMs), parentIdTag: r.parent, note: r.note, createdAt: r.createdAt, updatedAt: r.updatedAt,
    };
  }

  async add(tag: string, site: string | null, input: IdTagInput, actor: string): Promise<IdTagView> {
    const t = normalize(tag);
    const scope = await this.#scope(site);
    const fields = { status: input.status ?? 'Accepted', expiryMs: expiry(input.expiryDate), parent: parent(input.parentIdTag), note: input.note ?? null };
    // Decided inside the store's transaction: of two clouds adding one tag, one gets Duplicate.
    const r = await this.store.write(t, scope, (old) => {
      if (old && !old.deleted) throw new CloudError(CloudErrorCode.Duplicate, `id tag ${t} is already listed for ${site ?? 'every site'}`);
      return fields;
    }, actor, 'add', new Date(this.now()).toISOString());
    this.logger.info({ tag: t, site: site ?? EVERY_SITE, actor }, 'id tag added');
    return this.view(r);
  }

  /** Changes the fields given; `block` / `unblock` / `expire` are this with a status or date. */
  async update(tag: string, site: string | null, input: IdTagInput, actor: string, action = 'update'): Promise<IdTagView> {
    const t = normalize(tag);
    const scope = site ?? EVERY_SITE;
    const expiryMs = input.expiryDate === undefined ? undefined : expiry(input.expiryDate);
    const parentTag = input.parentIdTag === undefined ? undefined : parent(input.parentIdTag);
    // Merged with the row as it is inside the store's transaction: a concurrent change of
    // another field (on another cloud) is kept, not overwritten with what we read before.
    const r = await this.store.write(t, scope, (old) => {
      if (!old || old.deleted) throw new CloudError(CloudErrorCode.NotFound, `id tag ${t} is not listed for ${site ?? 'every site'}`);
      return {
        status: input.status ?? old.status,
        expiryMs: expiryMs === undefined ? old.expiryMs : expiryMs,
        parent: parentTag === undefined ? old.parent : parentTag,
        note: input.note === undefined ? old.note : input.note,
      };
    }, actor, action, new Date(this.now()).toISOString());
    this.logger.info({ tag: t, site: scope, actor, action }, 'id tag changed');
    return this.view(r);
  }

  async get(tag: string, site: string | null): Promise<IdTagView> {
    const r = await this.store.get(normalize(tag), site ?? EVERY_SITE);
    if (!r || r.deleted) throw new CloudError(CloudErrorCode.NotFound, `id tag ${tag.toUpperCase()} is not listed for ${site ?? 'every site'}`);
    return this.view(r);
  }

  async remove(tag: string, site: string | null, actor: string): Promise<void> {
    const t = normalize(tag);
    if (!await this.store.remove(t, site ?? EVERY_SITE, actor, new Date(this.now()).toISOString())) {
      throw new CloudError(CloudErrorCode.NotFound, `id tag ${t} is not listed for ${site ?? 'every site'}`);
    }
    this.logger.info({ tag: t, site: site ?? EVERY_SITE, actor }, 'id tag removed');
  }

  /** `site`: only that site's own entries; `everySite`: only the operator-wide ones. */
  async list(o: { site?: string; everySite?: boolean; status?: IdTagStatus; limit: number; offset: number }): Promise<IdTagView[]> {
    const scope = o.everySite ? EVERY_SITE : o.site;
    return (await this.store.list({ ...(scope !== undefined ? { scope } : {}), ...(o.status ? { status: o.status } : {}), limit: o.limit, offset: o.offset })
      ).map((r) => this.view(r));
  }

  audit(tag: string, limit: number): Promise<IdTagAuditRow[]> {
    return this.store.auditOf(normalize(tag), limit);
  }

  /** The gateways' feed: rows changed after `since` in version order, tombstones included. */
  async changes(since: number, limit: number): Promise<{ version: number; items: IdTagChange[]; more: boolean }> {
    // Rows and version from one snapshot: a change committed in between would otherwise be
    // covered by the version without being in the rows, and the gateway would skip it.
    const { rows, version: top } = await this.store.changesSince(since, limit + 1);
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map((r) => ({
      tag: r.tag, site: siteOf(r.scope), status: r.status, expiryDate: iso(r.expiryMs), parentIdTag: r.parent, deleted: r.deleted, version: r.version,
    }));
    // Not capped at `since`: a version below it tells a gateway the list went back (restore).
    const version = more ? items[items.length - 1]!.version : top;
    return { version, items, more };
  }

  async #scope(site: string | null): Promise<string> {
    if (site === null) return EVERY_SITE;
    // Devices may name a site that was never registered (sites.ts is optional metadata).
    if (!(await this.devices.getSite(site)) && (await this.devices.list({ site, limit: 1, offset: 0 })).items.length === 0) {
      throw new CloudError(CloudErrorCode.Validation, `site "${site}" is not registered and has no devices`);
    }
    return site;
  }
}

function normalize(tag: string): string {
  if (!ID_TAG_RE.test(tag)) throw new CloudError(CloudErrorCode.Validation, 'id tag: 1–20 printable ASCII characters, no "/"');
  return tag.toUpperCase();
}

function parent(p: string | null | undefined): string | null {
  return p === undefined || p === null ? null : normalize(p);
}

function expiry(d: string | null | undefined): number | null {
  if (d === undefined || d === null) return null;
  const ms = Date.parse(d);
  if (!Number.isFinite(ms)) throw new CloudError(CloudErrorCode.Validation, 'expiryDate must be an ISO-8601 date-time');
  return ms;
}
