import { join, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { AIR_ENV, airConfig, airIssues, type AirConfig } from './air/air-config.js';
import type { FallbackConfig } from './alerts/fallback.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { RETENTION_TUNABLES, type RetentionConfig, type RetentionTunables } from './retention.js';

const PORT = '^(0|[1-9][0-9]{0,4})$';
const POS_INT = '^[1-9][0-9]*$';
/** 0 (keep forever) or 1..36500 days */
const DAYS = '^(0|[1-9][0-9]{0,3}|[1-2][0-9]{4}|3[0-5][0-9]{3}|36500)$';
const URL_RE = '^[a-z][a-z0-9+.-]*://\\S+$';
const HTTP_URL = '^https?://[^\\s/]+\\S*$';
const EMAIL = '[^\\s@,<>]+@[^\\s@,<>]+';

/** The schema is written over the raw environment so every error names the variable an
 * operator has to fix; conversion to typed values happens after validation. */
const EnvSchema = Type.Object({
  YULAN_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_MQTT_URL: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?|tcp|tls)://\\S+$' })),
  YULAN_EDGE_MQTT_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_EDGE_MQTT_PASSWORD: Type.String({ minLength: 1 }),
  // A service's client id is `<username>:<name>` at the broker (docs/deploy.md: edge:edge-1, edge:edge-2).
  YULAN_EDGE_CLIENT_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
  YULAN_EDGE_HTTP_HOST: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_EDGE_HTTP_PORT: Type.Optional(Type.String({ pattern: PORT })),
  // HTTPS for the query API (docs/security.md): the same PEM files as the broker and cloud.
  // YULAN_TLS_CA_FILE: the CA the MQTT source trusts for mqtts://.
  YULAN_TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_EDGE_HTTPS_PORT: Type.Optional(Type.String({ pattern: PORT })),
  YULAN_PLAIN_PUBLIC: Type.Optional(Type.String({ pattern: '^(true|false|1|0)$' })),
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
  // Retention of the embedded SQLite store and the InfluxDB retention policies, in days (0 = keep).
  YULAN_RETENTION_RAW_DAYS: Type.Optional(Type.String({ pattern: DAYS })),
  YULAN_RETENTION_AGGREGATES_DAYS: Type.Optional(Type.String({ pattern: DAYS })),
  YULAN_RETENTION_EVENTS_DAYS: Type.Optional(Type.String({ pattern: DAYS })),
  // Closed alerts in alerts.db (the same variable the cloud uses for its resolved alerts).
  YULAN_RETENTION_ALERTS_DAYS: Type.Optional(Type.String({ pattern: DAYS })),
  // Alerts (docs/care.md §2): the cloud the edge reports to, and its own fallback pager.
  YULAN_CLOUD_URL: Type.Optional(Type.String({ pattern: HTTP_URL })),
  // Embedded Node-RED (docs/integrations.md): off unless 1, or a flow file is given.
  YULAN_NODE_RED: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  YULAN_NODE_RED_HOST: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_NODE_RED_PORT: Type.Optional(Type.String({ pattern: PORT })),
  YULAN_NODE_RED_FLOWS: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_EDGE_FALLBACK_AFTER_SEC: Type.Optional(Type.String({ pattern: POS_INT })),
  YULAN_EDGE_FALLBACK_WEBHOOK_URL: Type.Optional(Type.String({ pattern: HTTP_URL })),
  YULAN_EDGE_FALLBACK_WEBHOOK_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  YULAN_EDGE_FALLBACK_SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://\\S+$' })),
  YULAN_EDGE_FALLBACK_EMAIL_TO: Type.Optional(Type.String({ pattern: `^${EMAIL}(\\s*,\\s*${EMAIL})*$` })),
  YULAN_EDGE_FALLBACK_EMAIL_FROM: Type.Optional(Type.String({ pattern: `^(${EMAIL}|[^<>]*<${EMAIL}>)$` })),
  // Air quality and noise (edge/src/air, README "Air quality").
  ...AIR_ENV,
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
  /** 1.x: one retention policy per kind of data with these days (store/influx-retention.ts) */
  retention?: RetentionConfig;
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
  /** plain HTTP address: httpHost when loopback or YULAN_PLAIN_PUBLIC, else 127.0.0.1 */
  plainHost?: string;
  /** HTTPS beside plain HTTP, on httpHost */
  tls?: { certFile: string; keyFile: string; httpsPort: number };
  /** CA for mqtts:// and an https:// cloud URL (YULAN_TLS_CA_FILE) */
  tlsCaFile?: string;
  token: string;
  /** undefined → embedded SQLite store. */
  influx?: InfluxConfig;
  outboxMaxRows: number;
  batchSize: number;
  retention: RetentionConfig;
  /** Not from env, overridable by callers (tests, benchmark). */
  retentionTunables: RetentionTunables;
  /** closed alerts (cancelled/cleared, delivered) are pruned from alerts.db after this; 0 = keep */
  alertRetentionDays: number;
  /** Unset → alerts are raised and kept locally only (and paged through the fallback). */
  cloudUrl?: string;
  /** Embedded Node-RED editor and runtime; unset → off. */
  nodeRed?: { host: string; port: number; seedFlows?: string };
  fallback: FallbackConfig;
  /** Alert tunables; not from env, overridable by callers (tests). */
  alerting: AlertingTunables;
  /** AQI / noise computation (edge/src/air). */
  air: AirConfig;
  /** Domain tunables; not from env, overridable by callers (tests, benchmark). */
  maxFutureSkewMs: number;
  windowGraceMs: number;
  lateRetentionMs: number;
}

export interface AlertingTunables {
  careRulesRefreshMs: number;
  uplinkMinBackoffMs: number;
  uplinkMaxBackoffMs: number;
  httpTimeoutMs: number;
  fallbackRetryDelaysMs: number[];
  fallbackCheckMs: number;
  /** Wellness rules wait this long after start for the broker's backlog. */
  warmupMs: number;
}

export const ALERTING_DEFAULTS: AlertingTunables = {
  careRulesRefreshMs: 60_000, uplinkMinBackoffMs: 500, uplinkMaxBackoffMs: 30_000, httpTimeoutMs: 10_000,
  fallbackRetryDelaysMs: [1000, 2000, 4000], fallbackCheckMs: 1000, warmupMs: 60_000,
};

/** README, "Retention": raw readings a month, 1-minute aggregates two years, events five. */
export const RETENTION_DEFAULTS: RetentionConfig = { rawDays: 30, aggregatesDays: 730, eventsDays: 1825 };

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
  if (!v.YULAN_TLS_CERT_FILE !== !v.YULAN_TLS_KEY_FILE) {
    issues.push({ variable: 'YULAN_TLS_CERT_FILE', message: 'set both YULAN_TLS_CERT_FILE and YULAN_TLS_KEY_FILE, or neither' });
  }
  if (v.YULAN_EDGE_HTTPS_PORT && Number(v.YULAN_EDGE_HTTPS_PORT) > 65535) {
    issues.push({ variable: 'YULAN_EDGE_HTTPS_PORT', message: 'must be 0..65535' });
  }
  fallbackIssues(v, issues);
  airIssues(v, issues);
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
    plainHost: /^(true|1)$/.test(e.YULAN_PLAIN_PUBLIC ?? '') || isLoopback(e.YULAN_EDGE_HTTP_HOST ?? '127.0.0.1') ? (e.YULAN_EDGE_HTTP_HOST ?? '127.0.0.1') : '127.0.0.1',
    ...(e.YULAN_TLS_CERT_FILE && e.YULAN_TLS_KEY_FILE
      ? { tls: { certFile: resolve(e.YULAN_TLS_CERT_FILE), keyFile: resolve(e.YULAN_TLS_KEY_FILE), httpsPort: Number(e.YULAN_EDGE_HTTPS_PORT ?? 8444) } }
      : {}),
    ...(e.YULAN_TLS_CA_FILE ? { tlsCaFile: resolve(e.YULAN_TLS_CA_FILE) } : {}),
    token: e.YULAN_EDGE_TOKEN,
    outboxMaxRows: Number(e.YULAN_OUTBOX_MAX_ROWS ?? 1_000_000),
    batchSize: Number(e.YULAN_BATCH_SIZE ?? 5000),
    retention: {
      rawDays: Number(e.YULAN_RETENTION_RAW_DAYS ?? RETENTION_DEFAULTS.rawDays),
      aggregatesDays: Number(e.YULAN_RETENTION_AGGREGATES_DAYS ?? RETENTION_DEFAULTS.aggregatesDays),
      eventsDays: Number(e.YULAN_RETENTION_EVENTS_DAYS ?? RETENTION_DEFAULTS.eventsDays),
    },
    retentionTunables: { ...RETENTION_TUNABLES },
    alertRetentionDays: Number(e.YULAN_RETENTION_ALERTS_DAYS ?? 1825),
    ...(e.YULAN_CLOUD_URL ? { cloudUrl: e.YULAN_CLOUD_URL.replace(/\/+$/, '') } : {}),
    ...(e.YULAN_NODE_RED === '1' || e.YULAN_NODE_RED_FLOWS ? {
      nodeRed: {
        host: e.YULAN_NODE_RED_HOST ?? '127.0.0.1', port: Number(e.YULAN_NODE_RED_PORT ?? 1880),
        ...(e.YULAN_NODE_RED_FLOWS ? { seedFlows: resolve(e.YULAN_NODE_RED_FLOWS) } : {}),
      },
    } : {}),
    fallback: fallbackConfig(e),
    air: airConfig(e),
    alerting: { ...ALERTING_DEFAULTS, fallbackRetryDelaysMs: [...ALERTING_DEFAULTS.fallbackRetryDelaysMs] },
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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Pairs that only make sense together: a half-configured pager would fail at the worst time. */
function fallbackIssues(v: Partial<Env>, issues: ConfigIssue[]): void {
  const pair = (a: keyof Env, b: keyof Env, why: string): void => {
    if (v[a] && !v[b]) issues.push({ variable: b, message: `is required when ${a} is set (${why})` });
  };
  pair('YULAN_EDGE_FALLBACK_WEBHOOK_URL', 'YULAN_EDGE_FALLBACK_WEBHOOK_SECRET', 'fallback pages are signed');
  pair('YULAN_EDGE_FALLBACK_WEBHOOK_SECRET', 'YULAN_EDGE_FALLBACK_WEBHOOK_URL', 'where to send fallback pages');
  pair('YULAN_EDGE_FALLBACK_SMTP_URL', 'YULAN_EDGE_FALLBACK_EMAIL_TO', 'who receives fallback emails');
  pair('YULAN_EDGE_FALLBACK_EMAIL_TO', 'YULAN_EDGE_FALLBACK_SMTP_URL', 'how fallback emails are sent');
  pair('YULAN_EDGE_FALLBACK_EMAIL_FROM', 'YULAN_EDGE_FALLBACK_SMTP_URL', 'how fallback emails are sent');
}

function fallbackConfig(e: Env): FallbackConfig {
  const c: FallbackConfig = { afterMs: Number(e.YULAN_EDGE_FALLBACK_AFTER_SEC ?? 60) * 1000 };
  if (e.YULAN_EDGE_FALLBACK_WEBHOOK_URL && e.YULAN_EDGE_FALLBACK_WEBHOOK_SECRET) {
    c.webhook = { url: e.YULAN_EDGE_FALLBACK_WEBHOOK_URL, secret: e.YULAN_EDGE_FALLBACK_WEBHOOK_SECRET };
  }
  if (e.YULAN_EDGE_FALLBACK_SMTP_URL && e.YULAN_EDGE_FALLBACK_EMAIL_TO) {
    c.email = {
      smtpUrl: e.YULAN_EDGE_FALLBACK_SMTP_URL,
      to: e.YULAN_EDGE_FALLBACK_EMAIL_TO.split(',').map((x) => x.trim()),
      from: e.YULAN_EDGE_FALLBACK_EMAIL_FROM ?? 'Yulan edge <yulan-edge@localhost>',
    };
  }
  return c;
}
