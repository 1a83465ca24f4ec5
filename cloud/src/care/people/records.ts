import type { Channel, LadderConfig, Locale, Role } from '../contracts.js';

/** A person as stored (never the password hash; channel secrets only where needed). */
export interface UserRecord {
  id: string;
  login: string;
  name: string;
  role: Role;
  locale: Locale;
  /** in fallback order; webhook channels carry their signing secret */
  channels: Channel[];
  phone: string | null;
  disabled: boolean;
  hasPassword: boolean;
  createdAt: number;
}

export interface NewUser {
  id: string;
  login: string;
  name: string;
  role: Role;
  locale: Locale;
  passwordHash: string | null;
  channels: Channel[];
  phone: string | null;
}

export interface UserPatch {
  name?: string;
  role?: Role;
  locale?: Locale;
  passwordHash?: string;
  channels?: Channel[];
  phone?: string | null;
  disabled?: boolean;
}

export interface Community {
  id: string;
  name: string;
  createdAt: number;
}

/** Local time of day in Asia/Shanghai, 'HH:MM'. */
export type ClockTime = string;

export interface Routine {
  /** up by this local time, or null (no routine_missed alert) */
  wakeBy: ClockTime | null;
  /** hours not counted for inactivity (may wrap past midnight) */
  quietHours: { from: ClockTime; to: ClockTime } | null;
  inactivityHours: number;
}

export const DEFAULT_ROUTINE: Routine = { wakeBy: null, quietHours: null, inactivityHours: 24 };

export interface ResidentRecord {
  id: string;
  name: string;
  address: string | null;
  communityId: string;
  phone: string | null;
  birthYear: number | null;
  notes: string | null;
  ladder: LadderConfig;
  routine: Routine;
  createdAt: number;
}

export type NewResident = Omit<ResidentRecord, 'createdAt'>;
export type ResidentPatch = Partial<Omit<ResidentRecord, 'id' | 'createdAt'>>;

export interface FamilyLink {
  residentId: string;
  userId: string;
  /** 0-based ladder order */
  position: number;
  relation: string | null;
}

export interface WorkerAssignment {
  userId: string;
  communityId: string;
  onDuty: boolean;
  /** optional duty window in Asia/Shanghai local time; both or neither */
  dutyFrom: ClockTime | null;
  dutyTo: ClockTime | null;
}

export interface HealthGrant {
  id: string;
  userId: string;
  /** a resident id, or '*' for every resident */
  residentId: string;
  grantedBy: string;
  createdAt: number;
  expiresAt: number;
}

export interface AuditRecord {
  id: number;
  atMs: number;
  actor: string;
  action: string;
  residentId: string | null;
  purpose: string;
  detail: string | null;
}

export interface AuditQuery {
  residentId?: string;
  actor?: string;
  limit: number;
  /** only rows with a smaller id (paging backwards) */
  beforeId?: number;
}

/** A device serving a resident over [fromMs, toMs) (epoch ms). */
export interface LinkPeriod {
  deviceId: string;
  fromMs: number;
  toMs: number;
}
