import { join, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ConfigError, type ConfigIssue } from './errors.js';
import { burstOf, parsePerKind, type PublishLimit, type QuotaConfig } from './quotas.js';

/**
 * Every `YULAN_*` variable the broker reads, validated once at start-up. Env values are
 * strings; TypeBox converts the numeric ones and reports every bad variable at once.
 */
const EnvSchema = Type.Object({
  YULAN_MQTT_HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  YULAN_MQTT_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 1883 }),
  YULAN_WS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8083 }),
  YULAN_CLOUD_URL: Type.String({ minLength: 1 }),
  YULAN_BROKER_TOKEN: Type.String({ minLength: 16 }),
  YULAN_BROKER_ACCOUNTS_FILE: Type.String({ minLength: 1 }),
  // 5 bytes of fixed header + 256 KiB body by default; MQTT itself allows 256 MiB.
  YULAN_MAX_PACKET_BYTES: Type.Integer({ minimum: 64, maximum: 268_435_455, default: 262_144 }),
  YULAN_BROKER_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
  YULAN_AUTH_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 60_000 }),
  // Not in docs/architecture.md: how long a subscriber may leave its socket full before
  // it is disconnected (Aedes drainTimeout). Must stay > 0 so one frozen client cannot
  // hold QoS 1 publishers back forever.
  YULAN_BROKER_SESSION_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 100_000_000, default: 500_000 }),
  YULAN_BROKER_DRAIN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  // Clustered mode (broker/README.md): state shared through Redis, N worker processes.
  YULAN_BROKER_REDIS_URL: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_BROKER_WORKERS: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  // After a restart without Redis, devices wait (CONNACK "server unavailable") until the
  // persistent subscribers (the edge) have subscribed again, at most this long; 0 = never.
  YULAN_BROKER_STARTUP_HOLD_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 15_000 }),
  // Gather each socket's packets of one event-loop turn into one writev (write-batch.ts).
  YULAN_BROKER_BATCH_WRITES: Type.Boolean({ default: true }),
  YULAN_DATA_DIR: Type.String({ minLength: 1, default: './.yulan' }),
  // TLS (docs/security.md): PEM files; with both set, MQTT/TLS and WSS listen on
  // YULAN_MQTT_HOST and the plain ports move to loopback unless YULAN_PLAIN_PUBLIC=true.
  YULAN_TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_MQTTS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8883 }),
  YULAN_WSS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8884 }),
  // A handshake not finished by then is cut and counted (slowloris on the TLS layer).
  YULAN_TLS_HANDSHAKE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /** PEM of the CA that signs device certificates: set it to let devices log in by certificate. */
  YULAN_DEVICE_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** PEM CA the cloud's certificate chains to, for an https:// YULAN_CLOUD_URL with a private CA. */
  YULAN_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  YULAN_PLAIN_PUBLIC: Type.Boolean({ default: false }),
  // Quotas (quotas.ts, docs/security.md). Publish quotas per device; 0 = off (the default
  // here; `yulan up` and the deploy examples set them). YULAN_QUOTA_PER_KIND overrides per
  // kind: "fall-sensor:5:8192,ev-charger:20:65536" (kind:msgs/s:bytes/s).
  YULAN_QUOTA_MSGS_PER_SEC: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  YULAN_QUOTA_BYTES_PER_SEC: Type.Integer({ minimum: 0, maximum: 1_073_741_824, default: 262_144 }),
  YULAN_QUOTA_PER_KIND: Type.Optional(Type.String({ maxLength: 1000 })),
  YULAN_QUOTA_DISCONNECT_AFTER: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 1000 }),
  // After such a disconnect the device's CONNECTs are refused (CONNACK 3) this long.
  YULAN_QUOTA_COOLDOWN_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 60_000 }),
  // Failed authentications (per source address / per client id) within the window before
  // CONNECTs are refused unchecked; CONNECTs per address per window. 0 = no limit.
  YULAN_AUTH_FAIL_PER_ADDRESS: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 20 }),
  YULAN_AUTH_FAIL_PER_CLIENT: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 5 }),
  YULAN_AUTH_FAIL_WINDOW_MS: Type.Integer({ minimum: 1000, maximum: 86_400_000, default: 300_000 }),
  YULAN_CONNECT_RATE_PER_ADDRESS: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 120 }),
  YULAN_CONNECT_RATE_WINDOW_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
  // Loopback (the edge, the cloud, `yulan up`, local benches) is exempt unless this is true.
  YULAN_LIMIT_LOOPBACK: Type.Boolean({ default: false }),
});
type Env = Static<typeof EnvSchema>;

export interface BrokerConfig {
  host: string;
  mqttPort: number;
  wsPort: number;
  cloudUrl: string;
  /** CA trusted for an https:// cloudUrl (YULAN_TLS_CA_FILE), absolute */
  cloudCaFile?: string;
  brokerToken: string;
  accountsFile: string;
  maxPacketBytes: number;
  queueLimit: number;
  /** Messages kept for one persistent session (e.g. the edge while it restarts). */
  sessionQueueLimit: number;
  authCacheTtlMs: number;
  drainTimeoutMs: number;
  /** When set, sessions, retained messages, subscriptions and routing live in Redis. */
  redisUrl: string | undefined;
  /** Longest wait for persistent subscribers after a restart (startup-hold.ts); 0 = off. */
  startupHoldMs: number;
  /** `<YULAN_DATA_DIR>/broker`: the list of persistent subscribers, nothing else. */
  stateDir: string;
  /** Broker processes sharing the listening ports (node:cluster); > 1 needs redisUrl. */
  workers: number;
  /** One writev per socket per event-loop turn instead of one per packet (write-batch.ts). */
  batchWrites: boolean;
  /** Address of the plain MQTT and WebSocket listeners: `host` when it is loopback or
   * YULAN_PLAIN_PUBLIC=true, else 127.0.0.1 (credentials never cross a network in clear). */
  plainHost: string;
  tls: BrokerTlsConfig | undefined;
  quotas: QuotaConfig;
}

export interface BrokerTlsConfig {
  certFile: string;
  keyFile: string;
  mqttsPort: number;
  wssPort: number;
  handshakeTimeoutMs: number;
  /** Device certificates (mutual TLS) verified against this CA; unset: secrets only. */
  deviceCaFile?: string;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function loadBrokerConfig(env: NodeJS.ProcessEnv): BrokerConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const v = env[key];
    // An empty variable means "unset": `YULAN_MQTT_PORT=` should fall back to the default
    // (or be reported missing), not fail as the integer "".
    if (v !== undefined && v.trim() !== '') raw[key] = v.trim();
  }
  const withDefaults = Value.Default(EnvSchema, raw);
  const converted = Value.Convert(EnvSchema, withDefaults);
  const issues: ConfigIssue[] = [];
  for (const err of Value.Errors(EnvSchema, converted)) {
    const missing = (err.params as { requiredProperties?: string[] }).requiredProperties;
    if (err.keyword === 'required' && missing) {
      for (const variable of missing) issues.push({ variable, message: 'is required' });
    } else {
      issues.push({ variable: err.instancePath.replace(/^\//, '') || '(env)', message: err.message });
    }
  }
  if (issues.length === 0) {
    const url = (converted as Env).YULAN_CLOUD_URL;
    if (!isHttpUrl(url)) issues.push({ variable: 'YULAN_CLOUD_URL', message: 'must be an http(s) URL' });
    const redis = (converted as Env).YULAN_BROKER_REDIS_URL;
    if (redis !== undefined && !isRedisUrl(redis)) {
      issues.push({ variable: 'YULAN_BROKER_REDIS_URL', message: 'must be a redis:// or rediss:// URL' });
    }
    const c = converted as Env;
    if ((c.YULAN_TLS_CERT_FILE === undefined) !== (c.YULAN_TLS_KEY_FILE === undefined)) {
      issues.push({ variable: 'YULAN_TLS_CERT_FILE', message: 'set both YULAN_TLS_CERT_FILE and YULAN_TLS_KEY_FILE, or neither' });
    }
    if (c.YULAN_DEVICE_CA_FILE !== undefined && c.YULAN_TLS_CERT_FILE === undefined) {
      // Device certificates travel only in a TLS handshake: without TLS the setting would do nothing.
      issues.push({ variable: 'YULAN_DEVICE_CA_FILE', message: 'needs YULAN_TLS_CERT_FILE and YULAN_TLS_KEY_FILE (device certificates are checked on the MQTT/TLS listener)' });
    }
    const perKind = parsePerKind(c.YULAN_QUOTA_PER_KIND);
    if (typeof perKind === 'string') issues.push({ variable: 'YULAN_QUOTA_PER_KIND', message: perKind });
    if ((converted as Env).YULAN_BROKER_WORKERS > 1 && redis === undefined) {
      // Without shared state each worker would be its own broker: a device on one
      // worker would be invisible to a subscriber on another.
      issues.push({ variable: 'YULAN_BROKER_WORKERS', message: 'more than 1 worker requires YULAN_BROKER_REDIS_URL' });
    }
  }
  if (issues.length > 0) throw new ConfigError(dedupe(issues));
  const e = converted as Env;
  // A burst must hold the largest packet allowed, or such a packet could never pass.
  const fit = (l: PublishLimit): PublishLimit => ({ ...l, burstBytes: Math.max(l.burstBytes, e.YULAN_MAX_PACKET_BYTES) });
  const perKind = parsePerKind(e.YULAN_QUOTA_PER_KIND) as Exclude<ReturnType<typeof parsePerKind>, string>;
  for (const k of Object.keys(perKind) as (keyof typeof perKind)[]) perKind[k] = fit(perKind[k]!);
  const quotas: QuotaConfig = {
    publish: e.YULAN_QUOTA_MSGS_PER_SEC > 0 || Object.keys(perKind).length > 0
      ? { default: fit(e.YULAN_QUOTA_MSGS_PER_SEC > 0 ? burstOf(e.YULAN_QUOTA_MSGS_PER_SEC, Math.max(64, e.YULAN_QUOTA_BYTES_PER_SEC)) : burstOf(1_000_000, 1_073_741_824)), perKind }
      : undefined,
    disconnectAfter: e.YULAN_QUOTA_DISCONNECT_AFTER,
    strikeWindowMs: 60_000,
    cooldownMs: e.YULAN_QUOTA_COOLDOWN_MS,
    authFailuresPerAddress: e.YULAN_AUTH_FAIL_PER_ADDRESS,
    authFailuresPerClient: e.YULAN_AUTH_FAIL_PER_CLIENT,
    authWindowMs: e.YULAN_AUTH_FAIL_WINDOW_MS,
    connectsPerAddress: e.YULAN_CONNECT_RATE_PER_ADDRESS,
    connectWindowMs: e.YULAN_CONNECT_RATE_WINDOW_MS,
    limitLoopback: e.YULAN_LIMIT_LOOPBACK,
  };
  return {
    quotas,
    host: e.YULAN_MQTT_HOST,
    mqttPort: e.YULAN_MQTT_PORT,
    wsPort: e.YULAN_WS_PORT,
    cloudUrl: e.YULAN_CLOUD_URL.replace(/\/+$/, ''),
    ...(e.YULAN_TLS_CA_FILE !== undefined ? { cloudCaFile: resolve(e.YULAN_TLS_CA_FILE) } : {}),
    brokerToken: e.YULAN_BROKER_TOKEN,
    accountsFile: e.YULAN_BROKER_ACCOUNTS_FILE,
    maxPacketBytes: e.YULAN_MAX_PACKET_BYTES,
    queueLimit: e.YULAN_BROKER_QUEUE_LIMIT,
    sessionQueueLimit: e.YULAN_BROKER_SESSION_QUEUE_LIMIT,
    authCacheTtlMs: e.YULAN_AUTH_CACHE_TTL_MS,
    drainTimeoutMs: e.YULAN_BROKER_DRAIN_TIMEOUT_MS,
    redisUrl: e.YULAN_BROKER_REDIS_URL,
    workers: e.YULAN_BROKER_WORKERS,
    startupHoldMs: e.YULAN_BROKER_STARTUP_HOLD_MS,
    batchWrites: e.YULAN_BROKER_BATCH_WRITES,
    stateDir: join(resolve(e.YULAN_DATA_DIR), 'broker'),
    plainHost: e.YULAN_PLAIN_PUBLIC || isLoopbackHost(e.YULAN_MQTT_HOST) ? e.YULAN_MQTT_HOST : '127.0.0.1',
    tls: e.YULAN_TLS_CERT_FILE !== undefined && e.YULAN_TLS_KEY_FILE !== undefined
      ? {
        certFile: resolve(e.YULAN_TLS_CERT_FILE),
        keyFile: resolve(e.YULAN_TLS_KEY_FILE),
        mqttsPort: e.YULAN_MQTTS_PORT,
        wssPort: e.YULAN_WSS_PORT,
        handshakeTimeoutMs: e.YULAN_TLS_HANDSHAKE_TIMEOUT_MS,
        ...(e.YULAN_DEVICE_CA_FILE !== undefined ? { deviceCaFile: resolve(e.YULAN_DEVICE_CA_FILE) } : {}),
      }
      : undefined,
  };
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.variable}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function isRedisUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}
