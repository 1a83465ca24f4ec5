import { isIP } from 'node:net';
import { resolve, join } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ConfigError } from './errors.js';
import type { CareRetentionConfig } from './care/retention.js';
import { effectiveRules, parseRuleOverrides, type RuleDefinition } from './security/rules.js';

/** Environment contract of the cloud service (docs/architecture.md). Everything arrives
 * as strings; ports are converted and range-checked here, once, at start-up. */
const Port = (dflt: string) => Type.String({ pattern: '^[0-9]{1,5}$', default: dflt });
const Url = (protocols: string, dflt: string) =>
  Type.String({ pattern: `^(${protocols})://[^\\s]+$`, default: dflt });
const Secret = Type.String({ minLength: 1 });

export const CloudEnvSchema = Type.Object({
  YULAN_DATA_DIR: Type.String({ minLength: 1, default: './.yulan' }),
  YULAN_HTTP_HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  YULAN_HTTP_PORT: Port('8080'),
  YULAN_MQTT_URL: Url('mqtts?|wss?|tcp|tls', 'mqtt://127.0.0.1:1883'),
  YULAN_CLOUD_MQTT_USERNAME: Type.String({ minLength: 1, default: 'cloud' }),
  YULAN_CLOUD_MQTT_PASSWORD: Secret,
  YULAN_BROKER_TOKEN: Secret,
  // Field gateways (docs/ocpp.md) check their devices' credentials at device-auth with
  // their own token, so a gateway never holds the broker's.
  YULAN_GATEWAY_TOKEN: Type.Optional(Type.String({ minLength: 32 })),
  YULAN_EDGE_URL: Url('https?', 'http://127.0.0.1:8081'),
  YULAN_EDGE_TOKEN: Secret,
  // The broker's HTTP listener (its WebSocket port), for the console's broker view
  // (docs/console.md); the cloud calls /admin/... there with YULAN_BROKER_TOKEN. Unset: no broker view.
  YULAN_BROKER_ADMIN_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  // An operator-chosen admin token is checked with a plain SHA-256 digest (see
  // plugins/admin-auth.ts), which is only sound for high-entropy tokens: demand 32+ chars.
  YULAN_ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 32 })),
  // Requests per minute per client address across the API (a right admin/broker/edge token
  // counts under itself instead; device auth, alert intake and health are exempt). Raise it
  // for scripts that provision thousands of records at once.
  YULAN_API_RATE_LIMIT: Type.String({ pattern: '^[1-9][0-9]{0,6}$', default: '1200' }),
  // The public open-data API (/sta/v1.1) has its own per-address budget, apart from the
  // one above, so anonymous reads can never use up what the authenticated API needs.
  YULAN_STA_RATE_LIMIT: Type.String({ pattern: '^[1-9][0-9]{0,6}$', default: '600' }),
  // The licence stated in open-data downloads and on the public page (an SPDX id and its text's URL).
  YULAN_OPEN_DATA_LICENCE: Type.String({ pattern: '^[A-Za-z0-9.+-]{1,64}$', default: 'CC-BY-4.0' }),
  YULAN_OPEN_DATA_LICENCE_URL: Type.String({ pattern: '^https?://[^\\s]+$', default: 'https://creativecommons.org/licenses/by/4.0/' }),
  // Behind a reverse proxy every client arrives from the proxy's address, so per-address
  // limits would pool everyone. Names the proxies whose X-Forwarded-For is believed:
  // comma-separated addresses/CIDRs, or loopback, linklocal, uniquelocal.
  YULAN_TRUST_PROXY: Type.Optional(Type.String({ pattern: '^[0-9A-Za-z:.,/ ]+$', maxLength: 2000 })),
  // Care notifications (docs/care.md §4): the base of the care-page links they carry
  // (default: the cloud's own http URL) and the SMTP server of the email channel.
  YULAN_PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  YULAN_SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://[^\\s]+$' })),
  YULAN_SMTP_FROM: Type.Optional(Type.String({ minLength: 3, maxLength: 320 })),
  // The safety net (docs/care.md §3): the channels paged when an urgent alert reaches nobody
  // (typically the call centre's, the same the edge pages on its own), how long an urgent
  // alert may stay unclaimed, and how often an unreached one is tried again.
  YULAN_CARE_FALLBACK_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  YULAN_CARE_FALLBACK_WEBHOOK_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  YULAN_CARE_FALLBACK_EMAIL_TO: Type.Optional(Type.String({ pattern: '^[^\\s@]+@[^\\s@]+$', maxLength: 320 })),
  YULAN_CARE_CLAIM_DEADLINE_SEC: Type.String({ pattern: '^[1-9][0-9]{0,5}$', default: '900' }),
  YULAN_CARE_UNREACHED_RETRY_SEC: Type.String({ pattern: '^[1-9][0-9]{0,4}$', default: '60' }),
  // Firmware (docs/control.md §2): a JSON file of trusted Ed25519 public keys
  // [{id, publicKeyPem}]; read and validated at start. Unset: uploads are refused.
  YULAN_FIRMWARE_KEYS: Type.Optional(Type.String({ minLength: 1 })),
  // Retention of care records in days, 0 = keep (care/retention.ts, docs/deploy.md).
  YULAN_RETENTION_ALERTS_DAYS: Type.String({ pattern: '^[0-9]{1,6}$', default: '1825' }),
  YULAN_RETENTION_AUDIT_DAYS: Type.String({ pattern: '^[0-9]{1,6}$', default: '2190' }),
  // OCPP diagnostics files handed over by the gateways (docs/ocpp.md §4.2): days kept (0 = keep), size limit
  YULAN_DIAGNOSTICS_RETENTION_DAYS: Type.String({ pattern: '^[0-9]{1,5}$', default: '30' }),
  YULAN_DIAGNOSTICS_MAX_BYTES: Type.String({ pattern: '^[1-9][0-9]{0,9}$', default: '10485760' }),
  // HTTPS (docs/security.md): PEM files shared with the broker and the edge. With both set
  // the API also listens with TLS on YULAN_HTTPS_PORT; the plain port stays on loopback
  // unless YULAN_PLAIN_PUBLIC=true. YULAN_TLS_CA_FILE: the CA the MQTT link trusts (mqtts://).
  YULAN_TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  // Device certificates (mutual TLS): the device CA's certificate and key; both or neither.
  YULAN_DEVICE_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_DEVICE_CA_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_HTTPS_PORT: Port('8443'),
  YULAN_PLAIN_PUBLIC: Type.Optional(Type.String({ pattern: '^(true|false|1|0)$' })),
  // The cloud's data in PostgreSQL instead of SQLite files (docs/deploy.md, "PostgreSQL"):
  // several cloud processes may share it. The password belongs in the URL or in PGPASSWORD.
  YULAN_DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://[^\\s]+$' })),
  // CA the PostgreSQL server's certificate must chain to; set, the connection is TLS-verified.
  YULAN_DATABASE_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  // Security monitor (docs/security.md, "Security alerts"): on unless false; how often it
  // samples the counters; overrides of its rules, `id=threshold/windowSec` or `id=off`.
  YULAN_SECURITY_MONITOR: Type.String({ pattern: '^(true|false|1|0)$', default: 'true' }),
  YULAN_SECURITY_SAMPLE_MS: Type.String({ pattern: '^[0-9]{3,6}$', default: '15000' }),
  YULAN_SECURITY_RULES: Type.Optional(Type.String({ maxLength: 2000 })),
  // Before a schema upgrade of a database with data: pg_dump into <data dir>/pg-upgrade
  // (default), or none when the operator took a backup themselves.
  YULAN_DATABASE_UPGRADE_BACKUP: Type.Union([Type.Literal('pg_dump'), Type.Literal('none')], { default: 'pg_dump' }),
});
type CloudEnv = Static<typeof CloudEnvSchema>;

export interface CloudConfig {
  /** `<YULAN_DATA_DIR>/cloud`, absolute */
  dataDir: string;
  /** SQLite registry file inside dataDir */
  dbFile: string;
  httpHost: string;
  httpPort: number;
  mqttUrl: string;
  mqttUsername: string;
  mqttPassword: string;
  brokerToken: string;
  /** bearer of field gateways at device-auth (YULAN_GATEWAY_TOKEN); unset: none accepted */
  gatewayToken?: string;
  edgeUrl: string;
  edgeToken: string;
  /** the broker's HTTP base URL for its admin API (YULAN_BROKER_ADMIN_URL); unset: no broker view */
  brokerAdminUrl?: string;
  adminToken?: string;
  /** base URL of the care page in notifications; unset: the cloud's own http URL */
  publicUrl?: string;
  /** email channel; unset: email channels fail over to the person's next channel */
  smtp?: { url: string; from: string };
  /** requests per minute per client address (YULAN_API_RATE_LIMIT) */
  apiRateLimit: number;
  /** open-data requests per minute per client address (YULAN_STA_RATE_LIMIT) */
  staRateLimit: number;
  /** how long resolved alerts and audit rows are kept (care/retention.ts) */
  careRetention: CareRetentionConfig;
  /** OCPP diagnostics files (docs/ocpp.md §4.2): days kept (0 = keep) and the size limit */
  diagnostics: { retentionDays: number; maxBytes: number };
  /** licence of the open data (YULAN_OPEN_DATA_LICENCE, YULAN_OPEN_DATA_LICENCE_URL) */
  openDataLicence: { id: string; url: string };
  /** the safety net for alerts that reach nobody (docs/care.md §3) */
  care: {
    claimDeadlineSec: number;
    unreachedRetrySec: number;
    fallback: { webhook?: { url: string; secret: string }; emailTo?: string };
  };
  /** proxies whose X-Forwarded-For sets the client address (YULAN_TRUST_PROXY):
   * addresses/CIDRs; unset, the socket's peer is the client */
  trustProxy?: string[];
  /** path of the trusted firmware keys file (YULAN_FIRMWARE_KEYS), absolute */
  firmwareKeysFile?: string;
  /** address of the plain HTTP listener: httpHost when loopback or YULAN_PLAIN_PUBLIC */
  plainHost?: string;
  /** HTTPS beside plain HTTP (YULAN_TLS_CERT_FILE/KEY_FILE, YULAN_HTTPS_PORT) */
  tls?: { certFile: string; keyFile: string; httpsPort: number };
  /** CA the MQTT link trusts for mqtts://, and the HTTP calls to the edge and the broker's
   * admin API for https:// (YULAN_TLS_CA_FILE), absolute */
  tlsCaFile?: string;
  /** Device CA certificate and key (YULAN_DEVICE_CA_FILE, YULAN_DEVICE_CA_KEY_FILE), absolute */
  deviceCa?: { certFile: string; keyFile: string };
  /** PostgreSQL instead of the SQLite files (YULAN_DATABASE_URL; its CA: YULAN_DATABASE_CA_FILE, absolute) */
  database?: { url: string; caFile?: string; upgradeBackup: 'pg_dump' | 'none' };
  /** the security monitor (security/): its rules in force and sampling period; unset: off */
  security?: { rules: RuleDefinition[]; sampleMs: number };
}

const KEYS = Object.keys(CloudEnvSchema.properties) as (keyof CloudEnv)[];

export function loadCloudConfig(env: Record<string, string | undefined>): CloudConfig {
  const input: Record<string, string> = {};
  for (const key of KEYS) {
    const v = env[key];
    // An empty variable means "unset" (shells and .env files often export VAR=).
    if (v !== undefined && v !== '') input[key] = v;
  }
  const withDefaults = Value.Default(CloudEnvSchema, input);
  const problems = Value.Errors(CloudEnvSchema, withDefaults).flatMap((e) => describe(e, input));
  if (problems.length === 0) {
    const port = Number((withDefaults as CloudEnv).YULAN_HTTP_PORT);
    if (port > 65535) problems.push('YULAN_HTTP_PORT: must be 0..65535');
  }
  // Settings that only make sense together: a webhook is never sent unsigned, and an
  // email needs the SMTP server.
  if ((input.YULAN_CARE_FALLBACK_WEBHOOK_URL === undefined) !== (input.YULAN_CARE_FALLBACK_WEBHOOK_SECRET === undefined)) {
    problems.push('YULAN_CARE_FALLBACK_WEBHOOK_URL and YULAN_CARE_FALLBACK_WEBHOOK_SECRET: set both or neither');
  }
  if ((input.YULAN_TLS_CERT_FILE === undefined) !== (input.YULAN_TLS_KEY_FILE === undefined)) {
    problems.push('YULAN_TLS_CERT_FILE and YULAN_TLS_KEY_FILE: set both or neither');
  }
  if ((input.YULAN_DEVICE_CA_FILE === undefined) !== (input.YULAN_DEVICE_CA_KEY_FILE === undefined)) {
    problems.push('YULAN_DEVICE_CA_FILE and YULAN_DEVICE_CA_KEY_FILE: set both or neither (the cloud signs device certificates with them)');
  }
  if (input.YULAN_DATABASE_CA_FILE !== undefined && input.YULAN_DATABASE_URL === undefined) {
    problems.push('YULAN_DATABASE_CA_FILE: needs YULAN_DATABASE_URL');
  }
  if (input.YULAN_HTTPS_PORT !== undefined && Number(input.YULAN_HTTPS_PORT) > 65535) problems.push('YULAN_HTTPS_PORT: must be 0..65535');
  if (input.YULAN_CARE_FALLBACK_EMAIL_TO !== undefined && input.YULAN_SMTP_URL === undefined) {
    problems.push('YULAN_CARE_FALLBACK_EMAIL_TO: needs YULAN_SMTP_URL');
  }
  const securityRules = parseRuleOverrides(input.YULAN_SECURITY_RULES);
  problems.push(...securityRules.problems);
  const sampleMs = Number((withDefaults as CloudEnv).YULAN_SECURITY_SAMPLE_MS);
  if (input.YULAN_SECURITY_SAMPLE_MS !== undefined && (sampleMs < 100 || sampleMs > 600_000)) problems.push('YULAN_SECURITY_SAMPLE_MS: must be 100..600000');
  const trustProxy = problems.some((p) => p.startsWith('YULAN_TRUST_PROXY')) ? undefined : parseTrustProxy((withDefaults as CloudEnv).YULAN_TRUST_PROXY);
  if (trustProxy === null) problems.push('YULAN_TRUST_PROXY: must be comma-separated addresses/CIDRs (or loopback, linklocal, uniquelocal)');
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  const e = withDefaults as CloudEnv;
  const dataDir = join(resolve(e.YULAN_DATA_DIR), 'cloud');
  return {
    dataDir,
    dbFile: join(dataDir, 'registry.sqlite'),
    httpHost: e.YULAN_HTTP_HOST,
    httpPort: Number(e.YULAN_HTTP_PORT),
    mqttUrl: e.YULAN_MQTT_URL,
    mqttUsername: e.YULAN_CLOUD_MQTT_USERNAME,
    mqttPassword: e.YULAN_CLOUD_MQTT_PASSWORD,
    brokerToken: e.YULAN_BROKER_TOKEN,
    edgeUrl: e.YULAN_EDGE_URL.replace(/\/+$/, ''),
    edgeToken: e.YULAN_EDGE_TOKEN,
    apiRateLimit: Number(e.YULAN_API_RATE_LIMIT),
    staRateLimit: Number(e.YULAN_STA_RATE_LIMIT),
    careRetention: { alertsDays: Number(e.YULAN_RETENTION_ALERTS_DAYS), auditDays: Number(e.YULAN_RETENTION_AUDIT_DAYS) },
    diagnostics: { retentionDays: Number(e.YULAN_DIAGNOSTICS_RETENTION_DAYS), maxBytes: Number(e.YULAN_DIAGNOSTICS_MAX_BYTES) },
    openDataLicence: { id: e.YULAN_OPEN_DATA_LICENCE, url: e.YULAN_OPEN_DATA_LICENCE_URL },
    care: {
      claimDeadlineSec: Number(e.YULAN_CARE_CLAIM_DEADLINE_SEC),
      unreachedRetrySec: Number(e.YULAN_CARE_UNREACHED_RETRY_SEC),
      fallback: {
        ...(e.YULAN_CARE_FALLBACK_WEBHOOK_URL !== undefined && e.YULAN_CARE_FALLBACK_WEBHOOK_SECRET !== undefined
          ? { webhook: { url: e.YULAN_CARE_FALLBACK_WEBHOOK_URL, secret: e.YULAN_CARE_FALLBACK_WEBHOOK_SECRET } }
          : {}),
        ...(e.YULAN_CARE_FALLBACK_EMAIL_TO !== undefined ? { emailTo: e.YULAN_CARE_FALLBACK_EMAIL_TO } : {}),
      },
    },
    ...(e.YULAN_ADMIN_TOKEN !== undefined ? { adminToken: e.YULAN_ADMIN_TOKEN } : {}),
    ...(e.YULAN_BROKER_ADMIN_URL !== undefined ? { brokerAdminUrl: e.YULAN_BROKER_ADMIN_URL.replace(/\/+$/, '') } : {}),
    ...(e.YULAN_GATEWAY_TOKEN !== undefined ? { gatewayToken: e.YULAN_GATEWAY_TOKEN } : {}),
    ...(e.YULAN_PUBLIC_URL !== undefined ? { publicUrl: e.YULAN_PUBLIC_URL.replace(/\/+$/, '') } : {}),
    ...(e.YULAN_SMTP_URL !== undefined
      ? { smtp: { url: e.YULAN_SMTP_URL, from: e.YULAN_SMTP_FROM ?? 'Yulan <yulan@localhost>' } }
      : {}),
    ...(trustProxy !== undefined && trustProxy !== null ? { trustProxy } : {}),
    ...(e.YULAN_FIRMWARE_KEYS !== undefined ? { firmwareKeysFile: resolve(e.YULAN_FIRMWARE_KEYS) } : {}),
    plainHost: /^(true|1)$/.test(e.YULAN_PLAIN_PUBLIC ?? '') || isLoopback(e.YULAN_HTTP_HOST) ? e.YULAN_HTTP_HOST : '127.0.0.1',
    ...(e.YULAN_TLS_CERT_FILE !== undefined && e.YULAN_TLS_KEY_FILE !== undefined
      ? { tls: { certFile: resolve(e.YULAN_TLS_CERT_FILE), keyFile: resolve(e.YULAN_TLS_KEY_FILE), httpsPort: Number(e.YULAN_HTTPS_PORT) } }
      : {}),
    ...(e.YULAN_TLS_CA_FILE !== undefined ? { tlsCaFile: resolve(e.YULAN_TLS_CA_FILE) } : {}),
    ...(e.YULAN_DEVICE_CA_FILE !== undefined && e.YULAN_DEVICE_CA_KEY_FILE !== undefined
      ? { deviceCa: { certFile: resolve(e.YULAN_DEVICE_CA_FILE), keyFile: resolve(e.YULAN_DEVICE_CA_KEY_FILE) } } : {}),
    ...(e.YULAN_DATABASE_URL !== undefined
      ? { database: { url: e.YULAN_DATABASE_URL, upgradeBackup: e.YULAN_DATABASE_UPGRADE_BACKUP, ...(e.YULAN_DATABASE_CA_FILE !== undefined ? { caFile: resolve(e.YULAN_DATABASE_CA_FILE) } : {}) } } : {}),
    ...(/^(true|1)$/.test(e.YULAN_SECURITY_MONITOR) ? { security: { rules: effectiveRules(securityRules.overrides), sampleMs } } : {}),
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** undefined: unset; null: invalid. Neither "trust everyone" nor a hop count: the first
 * lets anyone forge their address with a header and walk around every per-address limit,
 * and Fastify treats the second as trusting nobody. */
function parseTrustProxy(v: string | undefined): string[] | undefined | null {
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const valid = (s: string): boolean => {
    if (PROXY_KEYWORDS.has(s)) return true;
    const [addr, bits, ...rest] = s.split('/');
    if (rest.length > 0 || addr === undefined) return false;
    const family = isIP(addr);
    if (family === 0) return false;
    return bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  };
  return items.length > 0 && items.every(valid) ? items : null;
}

/** Names the variable and the rule, never the value: values may be secrets. */
function describe(err: { instancePath: string; keyword: string; message: string; params: unknown }, input: Record<string, string>): string[] {
  const fromPath = err.instancePath.split('/')[1];
  const missing = (err.params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
  if (err.keyword === 'required' && missing) {
    return missing.map((k) => `${k}: required`);
  }
  const key = fromPath ?? '?';
  return [`${key}: ${input[key] === undefined ? 'required' : err.message}`];
}
