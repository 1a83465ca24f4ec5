import type { Logger } from 'pino';
import type { CareDirectory, ResidentAlertData } from '../contracts.js';
import type { DbTarget } from '../../db/target.js';
import { PgPeopleRepository } from './pg-people-repository.js';
import { SqliteCareDirectory } from './directory.js';
import { ReadAudit } from './read-audit.js';
import { SqlitePeopleRepository, type PeopleRepository } from './repository.js';
import type { PeopleAuditLog } from './stores.js';
import { SessionWatcher } from './session-watch.js';

export { SqlitePeopleRepository, type PeopleRepository } from './repository.js';
export { PgPeopleRepository } from './pg-people-repository.js';
export type { PeopleAuditLog, ResidentStore, StaffStore, UserStore } from './stores.js';
export { SqliteCareDirectory } from './directory.js';
export { SqliteAuditLog } from './audit-log.js';
export { ReadAudit } from './read-audit.js';
export { SessionWatcher } from './session-watch.js';
export { purposeOf } from './purpose.js';
export { default as peopleAuth } from './auth-plugin.js';
export { default as peopleRoutes } from './routes.js';

/** The people-and-access part of the cloud (docs/care.md §5), opened by start.ts. */
export interface PeopleModule {
  repo: PeopleRepository;
  /** what the alert side asks about people and access; also typed as the concrete class
   * for the people routes (visibleProfiles, levelOf) */
  directory: CareDirectory & SqliteCareDirectory;
  audit: PeopleAuditLog;
  /** audits reads of residents' data and of their devices' data (one row per resident) */
  reads: ReadAudit;
  /** signed-in sessions, watchable for their end (live streams end with them) */
  sessions: SessionWatcher;
  /** Attaches the alert side once both are open (export, erase, call-centre access). */
  setAlertData(data: ResidentAlertData): void;
  /** The attached alert side, if any. */
  alertData(): ResidentAlertData | undefined;
  logger: Logger;
  /** the module's clock (tests move it to expire sessions and grants) */
  now: () => number;
  loginLimits: LoginLimits;
  close(): Promise<void>;
}

export interface OpenPeopleOptions {
  /** people.sqlite (path or ':memory:'), or schema `people` in PostgreSQL */
  db: DbTarget;
  logger: Logger;
  now?: () => number;
  loginLimits?: Partial<LoginLimits>;
}

/** Sign-in back-off (docs/care.md §5): per (login, address), `freeAttempts` failures, then
 * delays from `baseDelayMs` doubling up to `maxDelayMs`; per address, `perIp` failures
 * across all logins within `windowMs` refuse that address until the window ends. */
export interface LoginLimits {
  freeAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  perIp: number;
  windowMs: number;
}
export const DEFAULT_LOGIN_LIMITS: LoginLimits = { freeAttempts: 3, baseDelayMs: 1000, maxDelayMs: 5 * 60_000, perIp: 20, windowMs: 15 * 60_000 };

export async function openPeople(opts: OpenPeopleOptions): Promise<PeopleModule> {
  const now = opts.now ?? Date.now;
  const repo: PeopleRepository = opts.db.kind === 'sqlite'
    ? new SqlitePeopleRepository({ file: opts.db.file, now })
    : await PgPeopleRepository.open(opts.db.db, now);
  let alertData: ResidentAlertData | undefined;
  const directory = new SqliteCareDirectory(repo, () => alertData, now);
  return {
    repo,
    directory,
    audit: repo.audit,
    reads: new ReadAudit(repo.audit, repo.residents),
    sessions: new SessionWatcher(repo.users),
    setAlertData(data) {
      alertData = data;
    },
    alertData: () => alertData,
    logger: opts.logger,
    now,
    loginLimits: { ...DEFAULT_LOGIN_LIMITS, ...opts.loginLimits },
    async close() {
      await repo.close();
    },
  };
}
