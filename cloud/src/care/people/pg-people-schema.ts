import { CloudError, CloudErrorCode } from '../../errors.js';

/** Schema `people` on PostgreSQL: the same tables as people.sqlite (db.ts). Epoch-ms
 * columns are bigint, JSON is jsonb, flags are boolean. Logins are unique ignoring case. */
export const PEOPLE_MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS people;
   CREATE TABLE people.users (
     id text PRIMARY KEY,
     login text NOT NULL,
     name text NOT NULL,
     role text NOT NULL CHECK (role IN ('admin', 'operator', 'family', 'worker', 'callcentre')),
     locale text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
     password_hash text,
     channels jsonb NOT NULL DEFAULT '[]',
     phone text,
     disabled boolean NOT NULL DEFAULT false,
     created_at bigint NOT NULL
   );
   CREATE UNIQUE INDEX users_login ON people.users (lower(login));
   CREATE INDEX users_role ON people.users (role, disabled);
   CREATE TABLE people.sessions (
     digest text PRIMARY KEY,
     user_id text NOT NULL REFERENCES people.users (id) ON DELETE CASCADE,
     created_at bigint NOT NULL,
     last_seen_at bigint NOT NULL,
     expires_at bigint NOT NULL
   );
   CREATE INDEX sessions_user ON people.sessions (user_id);
   CREATE INDEX sessions_expiry ON people.sessions (expires_at);
   CREATE TABLE people.communities (id text PRIMARY KEY, name text NOT NULL, created_at bigint NOT NULL);
   CREATE TABLE people.residents (
     id text PRIMARY KEY,
     name text NOT NULL,
     address text,
     community_id text NOT NULL REFERENCES people.communities (id),
     phone text,
     birth_year integer,
     notes text,
     ladder jsonb NOT NULL,
     routine jsonb NOT NULL,
     created_at bigint NOT NULL
   );
   CREATE INDEX residents_community ON people.residents (community_id);
   CREATE TABLE people.resident_devices (
     device_id text PRIMARY KEY,
     resident_id text NOT NULL REFERENCES people.residents (id) ON DELETE CASCADE
   );
   CREATE INDEX resident_devices_resident ON people.resident_devices (resident_id);
   CREATE TABLE people.device_links (
     id bigserial PRIMARY KEY,
     device_id text NOT NULL,
     resident_id text NOT NULL REFERENCES people.residents (id) ON DELETE CASCADE,
     from_ms bigint NOT NULL,
     to_ms bigint
   );
   CREATE INDEX device_links_device ON people.device_links (device_id, from_ms);
   CREATE INDEX device_links_resident ON people.device_links (resident_id);
   CREATE TABLE people.family_links (
     resident_id text NOT NULL REFERENCES people.residents (id) ON DELETE CASCADE,
     user_id text NOT NULL REFERENCES people.users (id) ON DELETE CASCADE,
     position integer NOT NULL,
     relation text,
     PRIMARY KEY (resident_id, user_id)
   );
   CREATE INDEX family_links_user ON people.family_links (user_id);
   CREATE TABLE people.worker_assignments (
     user_id text NOT NULL REFERENCES people.users (id) ON DELETE CASCADE,
     community_id text NOT NULL REFERENCES people.communities (id) ON DELETE CASCADE,
     on_duty boolean NOT NULL DEFAULT false,
     duty_from text,
     duty_to text,
     PRIMARY KEY (user_id, community_id)
   );
   CREATE INDEX worker_assignments_community ON people.worker_assignments (community_id);
   -- resident_id is a resident id or '*' (all residents), hence no foreign key.
   CREATE TABLE people.health_grants (
     id text PRIMARY KEY,
     user_id text NOT NULL REFERENCES people.users (id) ON DELETE CASCADE,
     resident_id text NOT NULL,
     granted_by text NOT NULL,
     created_at bigint NOT NULL,
     expires_at bigint NOT NULL
   );
   CREATE INDEX health_grants_user ON people.health_grants (user_id);
   CREATE TABLE people.audit (
     id bigserial PRIMARY KEY,
     at_ms bigint NOT NULL,
     actor text NOT NULL,
     action text NOT NULL,
     resident_id text,
     purpose text NOT NULL,
     detail text
   );
   CREATE INDEX audit_resident ON people.audit (resident_id, id);
   CREATE INDEX audit_actor ON people.audit (actor, id);`,
];

/** The SQLSTATE of a driver error, also when wrapped in a CloudError's cause. */
export function pgCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const direct = typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  return direct ?? (typeof e?.cause?.code === 'string' ? e.cause.code : undefined);
}

export const UNIQUE = '23505';
export const FOREIGN_KEY = '23503';

/** Rethrows a foreign-key violation as the given typed error; anything else unchanged. */
export function onForeignKey(err: unknown, code: CloudErrorCode, message: string): never {
  if (pgCode(err) === FOREIGN_KEY) throw new CloudError(code, message, { cause: err });
  throw err;
}
