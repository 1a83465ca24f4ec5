import type { FastifyRequest } from 'fastify';
import type { DeviceRead, DeviceReadAudit } from '../care/contracts.js';
import { purposeOf } from '../care/people/purpose.js';
import { actorOf } from '../care/people/route-helpers.js';
import type { HealthGate } from '../console/health-gate.js';

export interface DeviceDataOptions {
  /** audits reads of a device's data against the residents it served (set when care/people is open) */
  audit?: DeviceReadAudit;
  /** which devices' health fields the caller may see (set when care/people is open) */
  health?: HealthGate;
}

/**
 * The one place device routes audit what they read from the edge. A device linked to a
 * resident holds their data (presence, motion, falls), so each read names whoever the
 * device served at the time the data is from (docs/care.md §5), with the person asking
 * (or 'admin-token'); the purpose comes from X-Yulan-Purpose.
 */
export async function auditDeviceReads(opts: DeviceDataOptions, request: FastifyRequest, action: string, reads: readonly DeviceRead[]): Promise<void> {
  if (!opts.audit || reads.length === 0) return;
  await opts.audit.deviceReads({ actor: request.principal ? actorOf(request.principal) : 'admin-token', action, purpose: purposeOf(request, 'device operations'), reads });
}
