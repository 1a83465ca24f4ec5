import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostname } from 'node:os';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { GatewayConfigError } from './errors.js';

const PORT = '^(0|[1-9][0-9]{0,4})$';
const POS_INT = '^[1-9][0-9]{0,8}$';

/** Environment contract of the OCPP gateway (docs/ocpp.md). Validated once at start-up;
 * every problem names the variable to fix. */
const EnvSchema = Type.Object({
  YULAN_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_OCPP_HOST: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_OCPP_PORT: Type.Optional(Type.String({ pattern: PORT })),
  YULAN_MQTT_URL: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?|tcp|tls)://\\S+$' })),
  YULAN_CLOUD_URL: Type.Optional(Type.String({ pattern: '^https?://\\S+$' })),
  // The gateway's own device-auth bearer (the cloud's YULAN_GATEWAY_TOKEN).
  YULAN_GATEWAY_TOKEN: Type.String({ minLength: 32 }),
  // Security profile 2: both set → wss:// with this certificate and key (PEM files).
  YULAN_OCPP_TLS_CERT: Type.Optional(Type.String({ minLength: 1 })),
  // the CA the broker's certificate chains to, for an mqtts:// YULAN_MQTT_URL (docs/security.md)
  YULAN_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_OCPP_TLS_KEY: Type.Optional(Type.String({ minLength: 1 })),
  // Security profile 3: the Yulan device CA (PEM); chargers may then log in by client certificate.
  YULAN_OCPP_TLS_CLIENT_CA: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_OCPP_HEARTBEAT_S: Type.Optional(Type.String({ pattern: POS_INT })),
  YULAN_OCPP_MAX_FRAME_BYTES: Type.Optional(Type.String({ pattern: POS_INT })),
  // Per charger: sustained CALLs per second and the burst allowed above it.
  YULAN_OCPP_RATE_PER_S: Type.Optional(Type.String({ pattern: POS_INT })),
  YULAN_OCPP_RATE_BURST: Type.Optional(Type.String({ pattern: POS_INT })),
  YULAN_OCPP_CALL_TIMEOUT_MS: Type.Optional(Type.String({ pattern: POS_INT })),
  YULAN_AUTH_CACHE_TTL_MS: Type.Optional(Type.String({ pattern: POS_INT })),
  // Where chargers reach this gateway over HTTP(S), for GetDiagnostics upload URLs.
  YULAN_OCPP_PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/\\s]+$' })),
  YULAN_OCPP_DIAG_MAX_BYTES: Type.Optional(Type.String({ pattern: POS_INT })),
  // Days a diagnostics file's local copy is kept once the cloud has it (0 = keep).
  YULAN_OCPP_DIAG_KEEP_DAYS: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
  // "1": push the id tag list to chargers as their local authorization list (SendLocalList).
  YULAN_OCPP_LOCAL_LIST: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  // How often the cloud's id tag list is pulled (docs/ocpp.md §1.4).
  YULAN_OCPP_ID_TAG_SYNC_S: Type.Optional(Type.String({ pattern: POS_INT })),
  // Site power caps, amperes per phase: "site=A,site=A" (docs/ocpp.md §4.1).
  // The broker's `gateway` role (docs/ocpp.md §3): both set → one session of this account
  // speaks for every charger (multiplexed); neither → one MQTT session per charger.
  YULAN_OCPP_MQTT_USERNAME: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
  YULAN_OCPP_MQTT_PASSWORD: Type.Optional(Type.String({ minLength: 16 })),
  YULAN_OCPP_MQTT_CLIENT_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })),
  // "1": a charger with a device CA certificate needs no AuthorizationKey; the gateway binds
  // it at the broker by its certificate (the account needs `certBind`, docs/ocpp.md §1.2).
  YULAN_OCPP_CERT_BIND: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  YULAN_OCPP_SITE_LIMITS_A: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+=[0-9]+(\\.[0-9]+)?(,[A-Za-z0-9_.-]+=[0-9]+(\\.[0-9]+)?)*$' })),
  // The cloud's site cap share (W) → A per phase: W / (phases × nominal phase voltage).
  YULAN_OCPP_PHASES: Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('3')])),
  YULAN_OCPP_NOMINAL_V: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{1,2}$' })),
});
type Env = Static<typeof EnvSchema>;

export interface OcppGatewayConfig {
  /** `<YULAN_DATA_DIR>/gateway-ocpp`, absolute: the durable outbox lives here */
  dataDir: string;
  host: string;
  port: number;
  mqttUrl: string;
  /** PEM CA for mqtts:// and an https:// cloud URL (YULAN_TLS_CA_FILE); without it the system's CAs */
  mqttCa?: Buffer;
  cloudUrl: string;
  gatewayToken: string;
  /** security profile 2 (PEM contents), or plain ws (profile 1, development); with
   * `clientCa` also profile 3 (client certificates from the Yulan device CA) */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  heartbeatIntervalS: number;
  maxFrameBytes: number;
  ratePerS: number;
  rateBurst: number;
  callTimeoutMs: number;
  authCacheTtlMs: number;
  /** base of the diagnostics upload URLs; unset: the listener's own address */
  publicUrl?: string;
  diagMaxBytes: number;
  /** days a delivered diagnostics file stays on the gateway's disk (0 = kept) */
  diagKeepDays: number;
  /** push the list to chargers as their local authorization list */
  localList: boolean;
  /** how often the cloud's id tag list is pulled */
  idTagSyncMs: number;
  /** site id → cap in A per phase, split across the site's chargers */
  siteLimitsA: ReadonlyMap<string, number>;
  /** how the cloud's site cap share in W becomes A per phase (docs/ocpp.md §4.1) */
  siteLimitToAmps: { phases: number; voltageV: number };
  /** the broker's gateway role: one shared session; unset: one session per charger */
  brokerAccount?: { username: string; password: string; clientId: string };
  /** profile 3 with the certificate alone: bind such chargers at the broker by certificate */
  certBind: boolean;
}

const KEYS = Object.keys(EnvSchema.properties) as (keyof Env)[];

export function loadOcppGatewayConfig(env: Record<string, string | undefined>): OcppGatewayConfig {
  const input: Record<string, string> = {};
  for (const k of KEYS) {
    const v = env[k];
    if (v !== undefined && v !== '') input[k] = v;
  }
  const problems = [...Value.Errors(EnvSchema, input)].map((e) => {
    const key = e.instancePath.replace(/^\//, '') || (e.params as { requiredProperties?: string[] }).requiredProperties?.[0] || '(env)';
    return `${key}: ${e.message}`;
  });
  const e = input as Env;
  if (e.YULAN_OCPP_PORT !== undefined && Number(e.YULAN_OCPP_PORT) > 65535) problems.push('YULAN_OCPP_PORT: must be 0..65535');
  if ((e.YULAN_OCPP_TLS_CERT === undefined) !== (e.YULAN_OCPP_TLS_KEY === undefined)) {
    problems.push('YULAN_OCPP_TLS_CERT and YULAN_OCPP_TLS_KEY: set both (security profile 2) or neither (profile 1)');
  }
  let mqttCa: Buffer | undefined;
  if (e.YULAN_TLS_CA_FILE !== undefined) {
    try {
      mqttCa = readFileSync(e.YULAN_TLS_CA_FILE);
    } catch (err) {
      problems.push(`YULAN_TLS_CA_FILE: ${(err as Error).message}`);
    }
  }
  if (e.YULAN_OCPP_TLS_CLIENT_CA !== undefined && e.YULAN_OCPP_TLS_CERT === undefined) {
    problems.push('YULAN_OCPP_TLS_CLIENT_CA: needs YULAN_OCPP_TLS_CERT and YULAN_OCPP_TLS_KEY (client certificates are checked on the wss:// listener)');
  }
  let tls: { cert: Buffer; key: Buffer; clientCa?: Buffer } | undefined;
  if (problems.length === 0 && e.YULAN_OCPP_TLS_CERT !== undefined && e.YULAN_OCPP_TLS_KEY !== undefined) {
    try {
      tls = { cert: readFileSync(e.YULAN_OCPP_TLS_CERT), key: readFileSync(e.YULAN_OCPP_TLS_KEY) };
    } catch (err) {
      problems.push(`YULAN_OCPP_TLS_CERT/KEY: ${(err as Error).message}`);
    }
    try {
      if (tls && e.YULAN_OCPP_TLS_CLIENT_CA !== undefined) tls.clientCa = readFileSync(e.YULAN_OCPP_TLS_CLIENT_CA);
    } catch (err) {
      problems.push(`YULAN_OCPP_TLS_CLIENT_CA: ${(err as Error).message}`);
    }
  }
  if ((e.YULAN_OCPP_MQTT_USERNAME === undefined) !== (e.YULAN_OCPP_MQTT_PASSWORD === undefined)) {
    problems.push('YULAN_OCPP_MQTT_USERNAME and YULAN_OCPP_MQTT_PASSWORD: set both (gateway account) or neither (a session per charger)');
  }
  const clientId = e.YULAN_OCPP_MQTT_CLIENT_ID ?? `${e.YULAN_OCPP_MQTT_USERNAME ?? ''}:ocpp-${hostname()}-${process.pid}`;
  if (e.YULAN_OCPP_MQTT_USERNAME !== undefined && !clientId.startsWith(`${e.YULAN_OCPP_MQTT_USERNAME}:`)) {
    problems.push('YULAN_OCPP_MQTT_CLIENT_ID: must start with "<YULAN_OCPP_MQTT_USERNAME>:"');
  }
  if (e.YULAN_OCPP_CERT_BIND === '1' && (e.YULAN_OCPP_MQTT_USERNAME === undefined || e.YULAN_OCPP_TLS_CLIENT_CA === undefined)) {
    // per-charger mode logs in as each device with its key: without a key there is no session
    problems.push('YULAN_OCPP_CERT_BIND: needs YULAN_OCPP_TLS_CLIENT_CA and the gateway broker account (YULAN_OCPP_MQTT_USERNAME/_PASSWORD)');
  }
  if (problems.length > 0) throw new GatewayConfigError(problems);
  const num = (v: string | undefined, d: number): number => (v === undefined ? d : Number(v));
  return {
    dataDir: join(resolve(e.YULAN_DATA_DIR ?? './.yulan'), 'gateway-ocpp'),
    host: e.YULAN_OCPP_HOST ?? '0.0.0.0',
    port: num(e.YULAN_OCPP_PORT, 8085),
    mqttUrl: e.YULAN_MQTT_URL ?? 'mqtt://127.0.0.1:1883',
    ...(mqttCa ? { mqttCa } : {}),
    cloudUrl: (e.YULAN_CLOUD_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    gatewayToken: e.YULAN_GATEWAY_TOKEN,
    ...(tls ? { tls } : {}),
    heartbeatIntervalS: num(e.YULAN_OCPP_HEARTBEAT_S, 300),
    maxFrameBytes: num(e.YULAN_OCPP_MAX_FRAME_BYTES, 65_536),
    ratePerS: num(e.YULAN_OCPP_RATE_PER_S, 5),
    rateBurst: num(e.YULAN_OCPP_RATE_BURST, 30),
    callTimeoutMs: num(e.YULAN_OCPP_CALL_TIMEOUT_MS, 30_000),
    authCacheTtlMs: num(e.YULAN_AUTH_CACHE_TTL_MS, 60_000),
    ...(e.YULAN_OCPP_PUBLIC_URL !== undefined ? { publicUrl: e.YULAN_OCPP_PUBLIC_URL } : {}),
    diagMaxBytes: num(e.YULAN_OCPP_DIAG_MAX_BYTES, 10 * 1024 * 1024),
    diagKeepDays: num(e.YULAN_OCPP_DIAG_KEEP_DAYS, 7),
    localList: e.YULAN_OCPP_LOCAL_LIST === '1',
    idTagSyncMs: num(e.YULAN_OCPP_ID_TAG_SYNC_S, 60) * 1000,
    siteLimitToAmps: { phases: num(e.YULAN_OCPP_PHASES, 3), voltageV: num(e.YULAN_OCPP_NOMINAL_V, 220) },
    ...(e.YULAN_OCPP_MQTT_USERNAME !== undefined && e.YULAN_OCPP_MQTT_PASSWORD !== undefined
      ? { brokerAccount: { username: e.YULAN_OCPP_MQTT_USERNAME, password: e.YULAN_OCPP_MQTT_PASSWORD, clientId: clientId.replace(/[^A-Za-z0-9_.:-]/g, '-') } }
      : {}),
    certBind: e.YULAN_OCPP_CERT_BIND === '1',
    siteLimitsA: new Map((e.YULAN_OCPP_SITE_LIMITS_A ?? '').split(',').filter(Boolean).map((kv) => {
      const [site, a] = kv.split('=') as [string, string];
      return [site, Number(a)] as const;
    })),
  };
}
