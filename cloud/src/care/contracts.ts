import type { FastifyRequest } from 'fastify';

/**
 * The seams between the care parts of the cloud (docs/care.md): people and access
 * (`CareDirectory`, `AuditLog`, implemented in care/people/), and the alert lifecycle
 * (`AlertStore`, implemented in care/alerts/). Each side depends only on these types.
 */

export const Role = {
  Admin: 'admin',
  Operator: 'operator',
  Family: 'family',
  Worker: 'worker',
  CallCentre: 'callcentre',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export type Locale = 'zh-CN' | 'en';

/** Who is making a request. The admin bearer token is a principal too (API clients). */
export type Principal =
  | { kind: 'person'; userId: string; role: Role; name: string; locale: Locale }
  | { kind: 'admin-token' }
  /** A scoped API token (integrations/api-tokens): never a person, never the admin; only
   * the device API's routes its scopes list accept it (console/staff-auth.ts). */
  | { kind: 'api-token'; tokenId: string; integration: string | null; scopes: readonly string[]; sites: readonly string[]; kinds: readonly string[]; healthGrant: boolean };

/** Why a signed-in session ended. */
export type SessionEnd = 'logout' | 'expired' | 'disabled' | 'removed' | 'credentials-changed';

/** One signed-in session, for what outlives a request (the care page's live stream). */
export interface SessionHandle {
  readonly userId: string;
  /** Not logged out, not expired, the person still enabled; does not extend the session. */
  active(): Promise<boolean>;
  /** Calls `listener` once when the session ends; returns a function that stops watching. */
  onEnd(listener: (reason: SessionEnd) => void): () => void;
}

/** Sessions as the people side keeps them (care/people). */
export interface SessionWatch {
  /** The session a request was authenticated with; undefined for the admin token. */
  sessionOf(request: FastifyRequest): Promise<SessionHandle | undefined>;
}

export const ChannelType = { Webhook: 'webhook', Email: 'email', App: 'app' } as const;
export type ChannelType = (typeof ChannelType)[keyof typeof ChannelType];

/** One way to reach a person. `address` is the URL (webhook), the mailbox (email) or ''
 * (app: the person's open care-page streams). `secret` signs webhook bodies (HMAC). */
export interface Channel {
  type: ChannelType;
  address: string;
  secret?: string;
}

export interface Recipient {
  userId: string;
  name: string;
  role: Role;
  locale: Locale;
  /** in fallback order: a channel that fails hands over to the next */
  channels: Channel[];
}

export interface LadderConfig {
  cancelWindowSec: number;
  familyAckSec: number;
  workerAckSec: number;
  reminderSec: number;
}

export const DEFAULT_LADDER: LadderConfig = {
  cancelWindowSec: 30,
  familyAckSec: 180,
  workerAckSec: 300,
  reminderSec: 120,
} as const;

export type LadderStepKind = 'family' | 'worker' | 'callcentre';

export interface LadderStep {
  kind: LadderStepKind;
  recipients: Recipient[];
  /** seconds to acknowledge before the next step; null on the last step */
  ackSec: number | null;
}

/** Who to page, in order, for one resident at one moment (the worker on duty can change). */
export interface LadderPlan {
  residentId: string | null;
  residentName: string | null;
  config: LadderConfig;
  /** family contacts one step each, in order; then the worker(s) on duty; then the call centre */
  steps: LadderStep[];
}

export interface ResidentRef {
  id: string;
  name: string;
  communityId: string;
}

export type Access = 'profile' | 'health';

/** People, relationships and access; the alert side asks, never queries people tables. */
export interface CareDirectory {
  /** The resident a device is installed for, or null (unassigned device). */
  residentForDevice(deviceId: string): Promise<ResidentRef | null>;
  /** The ladder for a resident (null: unassigned device → call centre only). */
  ladderPlan(residentId: string | null, atMs: number): Promise<LadderPlan>;
  /** Whether `principal` may see (`profile`) or see health data of (`health`) a resident. */
  canAccess(principal: Principal, residentId: string, access: Access): Promise<boolean>;
  /** Resident ids the principal may see health data of; 'all' for admins. */
  visibleResidents(principal: Principal): Promise<string[] | 'all'>;
  /** The person behind a user id, with channels (null when unknown or deleted). */
  person(userId: string): Promise<Recipient | null>;
}

export interface AuditEntry {
  /** user id, 'admin-token', 'edge' … */
  actor: string;
  /** e.g. 'alert.read', 'resident.export', 'alerts.list' */
  action: string;
  residentId: string | null;
  purpose: string;
  detail?: string;
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
}

/** One read of a device's data held at the edge (telemetry, events, latest values). */
export interface DeviceRead {
  deviceId: string;
  /** the time range read, epoch ms, [fromMs, toMs) */
  fromMs: number;
  toMs: number;
}

/**
 * Audits reads of device data against the residents the devices served at the time the
 * data is from (care/people; docs/care.md §5). Written before the data leaves: a read
 * that cannot be logged does not happen. Returns the residents named.
 */
export interface DeviceReadAudit {
  deviceReads(e: { actor: string; action: string; purpose: string; reads: readonly DeviceRead[] }): Promise<string[]>;
}

/** What the alert side offers the people side for export and erasure. */
export interface ResidentAlertData {
  exportResident(residentId: string): Promise<unknown[]>;
  /** Deletes the resident's alerts, timelines and notifications; returns how many alerts. */
  eraseResident(residentId: string): Promise<number>;
  /** Alerts currently paged to a user (call centre staff see those residents). */
  residentsPagedTo(userId: string): Promise<string[]>;
}
