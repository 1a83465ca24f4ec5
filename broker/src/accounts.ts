import { readFile } from 'node:fs/promises';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { KIND_SLUGS, verifySecret, type KindSlug } from '@yulan/protos';
import { BrokerError, BrokerErrorCode } from './errors.js';
import type { ServiceRole } from './acl.js';
import type { GATEWAY_ROLE } from './gateway-acl.js';

const AccountsSchema = Type.Array(
  Type.Object({
    username: Type.String({ minLength: 1, maxLength: 64 }),
    role: Type.Union([Type.Literal('edge'), Type.Literal('cloud'), Type.Literal('gateway')]),
    hash: Type.String({ pattern: '^scrypt\\$' }),
    /** role gateway only: may bind devices by client certificate (docs/ocpp.md §3.1) —
     * `true` any kind, or only the kinds listed (`["ev-charger"]`, the least it needs) */
    certBind: Type.Optional(Type.Union([Type.Boolean(), Type.Array(Type.Union(KIND_SLUGS.map((k) => Type.Literal(k))), { minItems: 1 })])),
  }),
);

export interface ServiceAccount {
  username: string;
  /** `gateway`: speaks for the devices bound to its session (gateway-acl.ts) */
  role: ServiceRole | typeof GATEWAY_ROLE;
  hash: string;
  /** role gateway: may bind a device by its client certificate, not only by its key (true:
   * any kind; a list: devices of those kinds only) */
  certBind?: true | readonly KindSlug[];
}

/** Service accounts by username. Read once at start-up; a bad file stops the broker. */
export type Accounts = ReadonlyMap<string, ServiceAccount>;

export async function loadAccounts(file: string): Promise<Accounts> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new BrokerError(BrokerErrorCode.Accounts, `cannot read accounts file ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  return parseAccounts(parsed, file);
}

export function parseAccounts(value: unknown, source = 'accounts'): Accounts {
  const problems = [...Value.Errors(AccountsSchema, value)].map((e) => `${e.instancePath || '/'} ${e.message}`);
  if (problems.length > 0) {
    throw new BrokerError(BrokerErrorCode.Accounts, `invalid ${source}: ${problems.join('; ')}`);
  }
  const map = new Map<string, ServiceAccount>();
  for (const a of value as ServiceAccount[]) {
    if (map.has(a.username)) throw new BrokerError(BrokerErrorCode.Accounts, `duplicate account "${a.username}" in ${source}`);
    const certBind = (a as { certBind?: boolean | KindSlug[] }).certBind;
    if (certBind !== undefined && a.role !== 'gateway') {
      throw new BrokerError(BrokerErrorCode.Accounts, `account "${a.username}" in ${source}: certBind is for role gateway only`);
    }
    map.set(a.username, { username: a.username, role: a.role, hash: a.hash, ...(certBind === true || Array.isArray(certBind) ? { certBind } : {}) });
  }
  return map;
}

/** Constant-time password check (scrypt via verifySecret). Never throws. */
export async function verifyAccount(account: ServiceAccount, password: string): Promise<boolean> {
  try {
    return await verifySecret(password, account.hash);
  } catch {
    return false;
  }
}
