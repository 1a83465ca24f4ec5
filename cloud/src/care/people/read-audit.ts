import type { FastifyRequest } from 'fastify';
import type { AuditEntry, DeviceReadAudit, DeviceRead } from '../contracts.js';
import type { PeopleAuditLog } from './stores.js';
import { purposeOf } from './purpose.js';
import type { ResidentStore } from './stores.js';
import { actorOf } from './route-helpers.js';

/**
 * "Every read of a resident's data is audited" (docs/care.md §5), in one place: routes
 * that return residents' data name the residents here, device-data routes name the
 * devices and time ranges and the residents are found from the link periods. Each call
 * writes its rows in one transaction before the response is sent.
 */
export class ReadAudit implements DeviceReadAudit {
  constructor(
    private readonly audit: PeopleAuditLog,
    private readonly residents: ResidentStore,
  ) {}

  /** One row per resident named (duplicates once). */
  async residentsRead(request: FastifyRequest, e: { action: string; residentIds: Iterable<string>; purpose: string; detail?: string }): Promise<void> {
    const actor = request.principal ? actorOf(request.principal) : 'admin-token';
    const purpose = purposeOf(request, e.purpose);
    const rows: AuditEntry[] = [...new Set(e.residentIds)].map((residentId) => ({
      actor, action: e.action, residentId, purpose, ...(e.detail !== undefined ? { detail: e.detail } : {}),
    }));
    await this.audit.recordMany(rows);
  }

  async deviceReads(e: { actor: string; action: string; purpose: string; reads: readonly DeviceRead[] }): Promise<string[]> {
    const rows: AuditEntry[] = [];
    const named = new Set<string>();
    for (const r of e.reads) {
      for (const residentId of await this.residents.residentsOfDevice(r.deviceId, r.fromMs, r.toMs)) {
        named.add(residentId);
        rows.push({ actor: e.actor, action: e.action, residentId, purpose: e.purpose, detail: `device=${r.deviceId}` });
      }
    }
    await this.audit.recordMany(rows);
    return [...named];
  }
}
