import type { SqliteAuditLog } from './audit-log.js';
import type { SqliteResidentStore } from './resident-store.js';
import type { SqliteStaffStore } from './staff-store.js';
import type { SqliteUserStore } from './user-store.js';

/**
 * The people stores' async interfaces, one per concern. The SQLite classes define the
 * shape (their public methods, all async); the PostgreSQL classes (pg-*.ts) implement the
 * same, and cloud/test/people-store-contract.test.ts runs one behaviour suite on both.
 */
export type UserStore = Pick<SqliteUserStore, 'create' | 'get' | 'forLogin' | 'list' | 'activeWithRole' | 'onSessionEnded' | 'update' | 'remove' | 'createSession' | 'resolveSession' | 'deleteSession' | 'liveSessionUser'>;
export type ResidentStore = Pick<SqliteResidentStore, 'createCommunity' | 'community' | 'communities' | 'renameCommunity' | 'removeCommunity' | 'create' | 'get' | 'all' | 'update' | 'devicesOf' | 'ownerOfDevice' | 'allDeviceLinks' | 'setDevices' | 'linkPeriods' | 'residentsOfDevice' | 'family' | 'setFamily' | 'linkedResidents' | 'residentsInCommunitiesOf' | 'erase'>;
export type StaffStore = Pick<SqliteStaffStore, 'assignments' | 'assignmentsIn' | 'setAssignments' | 'setOnDuty' | 'grant' | 'grantsOf' | 'grants' | 'revoke'>;
export type PeopleAuditLog = Pick<SqliteAuditLog, 'record' | 'recordMany' | 'pruneOldest' | 'query'>;
