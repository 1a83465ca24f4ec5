import { join, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ConfigError, type ConfigIssue } from './errors.js';

const PORT = '^(0|[1-9][0-9]{0,4})$';
const POS_INT = '^[1-9][0-9]*$';
const URL_RE = '^[a-z][a-z0-9+.-]*://\\S+$';

/** The schema is written over the raw environment so every error names the variable an
 * operator has to fix; conversion to typed values happens after validation. */
const EnvSchema = Type.Object({
  YULAN_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_MQTT_URL: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?|tcp|tls)://\\S+$' })),
  YULAN_EDGE_MQTT_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_EDGE_MQTT_PASSWORD: Type.String({ minLength: 1 }),
  YULAN_EDGE_CLIENT_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
  YULAN_EDGE_HTTP_HOST: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_EDGE_HTTP_PORT: Type.Optional(Type.String({ pattern: PORT })),
  YULAN_EDGE_TOKEN: Type.String({ minLength: 16 }),
  YULAN_INFLUX_URL: Type.Optional(Type.String({ pattern: URL_RE })),
  YULAN_INFLUX_API: Type.Optional(Type.Union([Type.Literal('v1'), Type.Literal('v2')])),
  YULAN_INFLUX_DB: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_INFLUX_USERNAME: Type.Optional(Type.String()),
  YULAN_INFLUX_PASSWORD: Type.Optional(Type.String()),
  YULAN_INFLUX_ORG: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_INFLUX_BUCKET: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_INFLUX_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_OUTBOX_MAX_ROWS: Type.Optional(Type.String({ pattern: POS_INT })),
  YULAN_BATCH_SIZE: Type.Optional(Type.String({ pattern: POS_INT })),
});
type Env = Static<typeof EnvSchema>;

export interface InfluxConfig {
  url: string;
  api: 'v1' | 'v2';
  /** v1 database (also the InfluxQL `db` for queries on 2.x/3.x). */
  db: string;
  username?: string;
  password?: string;
  org?: string;
  bucket?: string;
  token?: string;
}

export interface EdgeConfig {
  /** `<YULAN_DATA_DIR>/edge`, absolute. */
  dataDir: string;
  mqttUrl: string;
  mqttUsername: string;
  mqttPassword: string;
  clientId: string;
  httpHost: string;
  httpPort: number;
  token: string;
  /** undefined → embedded SQLite store. */
  influx?: InfluxConfig;
  outboxMaxRows: number;
  batchSize: number;
  /** Domain tunables; not from env, overridable by callers (tests, benchmark). */
  maxFutureSkewMs: number;
  windowGraceMs: number;
  lateRetentionMs: number;
}

export const EDGE_DEFAULTS = {
  maxFutureSkewMs: 5 * 60_000,
  windowGraceMs: 10_000,
  lateRetentionMs: 10 * 60_000,
} as const;

function pick(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const v = env[key];
    // An empty variable means "unset"; shells and compose files produce those a lot.
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

/** Validates the YULAN_* variables once; throws ConfigError listing every bad one. */
export function loadEdgeConfig(env: Record<string, string | undefined> = process.env): EdgeConfig {
  const raw = pick(env);
  const issues: ConfigIssue[] = [];
  for (const e of Value.Errors(EnvSchema, raw)) {
    if (e.keyword === 'required') {
      const missing = (e.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      for (const m of missing) issues.push({ variable: m, message: 'is required' });
    } else if (e.keyword !== 'anyOf' || !issues.some((i) => i.variable === e.instancePath.slice(1))) {
      const variable = e.instancePath.slice(1);
      if (!issues.some((i) => i.variable === variable)) issues.push({ variable, message: e.message });
    }
  }
  const v = raw as Partial<Env>;
  const api = v.YULAN_INFLUX_API ?? 'v1';
  if (v.YULAN_INFLUX_URL && api === 'v2') {
    for (const k of ['YULAN_INFLUX_ORG', 'YULAN_INFLUX_BUCKET', 'YULAN_INFLUX_TOKEN'] as const) {
      if (!v[k]) issues.push({ variable: k, message: 'is required when YULAN_INFLUX_API=v2' });
    }
  }
  if (v.YULAN_EDGE_HTTP_PORT && Number(v.YULAN_EDGE_HTTP_PORT) > 65535) {
    issues.push({ variable: 'YULAN_EDGE_HTTP_PORT', message: 'must be 0..65535' });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const e = raw as Env;
  const config: EdgeConfig = {
    dataDir: join(resolve(e.YULAN_DATA_DIR ?? './.yulan'), 'edge'),
    mqttUrl: e.YULAN_MQTT_URL ?? 'mqtt://127.0.0.1:1883',
    mqttUsername: e.YULAN_EDGE_MQTT_USERNAME ?? 'edge',
    mqttPassword: e.YULAN_EDGE_MQTT_PASSWORD,
    clientId: e.YULAN_EDGE_CLIENT_ID ?? `${e.YULAN_EDGE_MQTT_USERNAME ?? 'edge'}:edge-1`,
    httpHost: e.YULAN_EDGE_HTTP_HOST ?? '127.0.0.1',
    httpPort: Number(e.YULAN_EDGE_HTTP_PORT ?? 8081),
    token: e.YULAN_EDGE_TOKEN,
    outboxMaxRows: Number(e.YULAN_OUTBOX_MAX_ROWS ?? 1_000_000),
    batchSize: Number(e.YULAN_BATCH_SIZE ?? 5000),
    ...EDGE_DEFAULTS,
  };
  if (e.YULAN_INFLUX_URL) {
    config.influx = {
      url: e.YULAN_INFLUX_URL.replace(/\/+$/, ''),
      api,
      db: e.YULAN_INFLUX_DB ?? 'yulan',
      ...(e.YULAN_INFLUX_USERNAME ? { username: e.YULAN_INFLUX_USERNAME } : {}),
      ...(e.YULAN_INFLUX_PASSWORD ? { password: e.YULAN_INFLUX_PASSWORD } : {}),
      ...(e.YULAN_INFLUX_ORG ? { org: e.YULAN_INFLUX_ORG } : {}),
      ...(e.YULAN_INFLUX_BUCKET ? { bucket: e.YULAN_INFLUX_BUCKET } : {}),
      ...(e.YULAN_INFLUX_TOKEN ? { token: e.YULAN_INFLUX_TOKEN } : {}),
    };
  }
  return config;
}
