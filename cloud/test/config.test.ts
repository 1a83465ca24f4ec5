import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { RULES } from '../src/security/rules.js';

const required = { YULAN_CLOUD_MQTT_PASSWORD: 'p', YULAN_BROKER_TOKEN: 'b', YULAN_EDGE_TOKEN: 'e' };

describe('loadCloudConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadCloudConfig(required);
    expect(c).toEqual({
      dataDir: join(resolve('./.yulan'), 'cloud'),
      dbFile: join(resolve('./.yulan'), 'cloud', 'registry.sqlite'),
      httpHost: '0.0.0.0',
      httpPort: 8080,
      mqttUrl: 'mqtt://127.0.0.1:1883',
      mqttUsername: 'cloud',
      mqttPassword: 'p',
      brokerToken: 'b',
      edgeUrl: 'http://127.0.0.1:8081',
      edgeToken: 'e',
      apiRateLimit: 1200,
      staRateLimit: 600,
      openDataLicence: { id: 'CC-BY-4.0', url: 'https://creativecommons.org/licenses/by/4.0/' },
      care: { claimDeadlineSec: 900, unreachedRetrySec: 60, fallback: {} },
      careRetention: { alertsDays: 1825, auditDays: 2190 },
      diagnostics: { retentionDays: 30, maxBytes: 10485760 },
      // plain HTTP never faces the network unless YULAN_PLAIN_PUBLIC=true (docs/security.md)
      plainHost: '127.0.0.1',
      // the security monitor is on by default, every rule at its default (docs/security.md)
      security: { rules: [...RULES], sampleMs: 15000 },
    });
  });

  it('reads the TLS files and opens plain HTTP to the network only when asked', () => {
    const c = loadCloudConfig({ ...required, YULAN_TLS_CERT_FILE: 'c.pem', YULAN_TLS_KEY_FILE: 'k.pem', YULAN_HTTPS_PORT: '9443' });
    expect(c.tls).toEqual({ certFile: resolve('c.pem'), keyFile: resolve('k.pem'), httpsPort: 9443 });
    expect(loadCloudConfig({ ...required, YULAN_PLAIN_PUBLIC: 'true' }).plainHost).toBe('0.0.0.0');
    expect(loadCloudConfig({ ...required, YULAN_HTTP_HOST: '127.0.0.1' }).plainHost).toBe('127.0.0.1');
    expect(() => loadCloudConfig({ ...required, YULAN_TLS_CERT_FILE: 'c.pem' })).toThrow(/YULAN_TLS_KEY_FILE/);
  });

  it('reads the care safety net and refuses half of a fallback channel', () => {
    const c = loadCloudConfig({
      ...required,
      YULAN_CARE_FALLBACK_WEBHOOK_URL: 'https://callcentre.example/hook',
      YULAN_CARE_FALLBACK_WEBHOOK_SECRET: 's'.repeat(20),
      YULAN_SMTP_URL: 'smtp://127.0.0.1:25',
      YULAN_CARE_FALLBACK_EMAIL_TO: 'desk@callcentre.example',
      YULAN_CARE_CLAIM_DEADLINE_SEC: '600',
      YULAN_CARE_UNREACHED_RETRY_SEC: '30',
    });
    expect(c.care).toEqual({
      claimDeadlineSec: 600, unreachedRetrySec: 30,
      fallback: { webhook: { url: 'https://callcentre.example/hook', secret: 's'.repeat(20) }, emailTo: 'desk@callcentre.example' },
    });
    expect(() => loadCloudConfig({ ...required, YULAN_CARE_FALLBACK_WEBHOOK_URL: 'https://x.example/h' })).toThrow(/set both or neither/);
    expect(() => loadCloudConfig({ ...required, YULAN_CARE_FALLBACK_EMAIL_TO: 'a@b.example' })).toThrow(/needs YULAN_SMTP_URL/);
    expect(() => loadCloudConfig({ ...required, YULAN_CARE_CLAIM_DEADLINE_SEC: '0' })).toThrow(/YULAN_CARE_CLAIM_DEADLINE_SEC/);
  });

  it('reads every variable', () => {
    const c = loadCloudConfig({
      ...required,
      YULAN_DATA_DIR: '/var/lib/yulan',
      YULAN_HTTP_HOST: '127.0.0.1',
      YULAN_HTTP_PORT: '0',
      YULAN_MQTT_URL: 'mqtts://broker:8883',
      YULAN_CLOUD_MQTT_USERNAME: 'cloud2',
      YULAN_EDGE_URL: 'https://edge.local:9000/',
      YULAN_ADMIN_TOKEN: 'x'.repeat(40),
      YULAN_API_RATE_LIMIT: '50000',
    });
    expect(c).toMatchObject({ dataDir: '/var/lib/yulan/cloud', httpPort: 0, mqttUrl: 'mqtts://broker:8883', mqttUsername: 'cloud2', edgeUrl: 'https://edge.local:9000', adminToken: 'x'.repeat(40), apiRateLimit: 50000 });
    expect(() => loadCloudConfig({ ...required, YULAN_API_RATE_LIMIT: '0' })).toThrow(/YULAN_API_RATE_LIMIT/);
  });

  it('lists every bad variable at once, without echoing values', () => {
    let err: unknown;
    try {
      loadCloudConfig({ YULAN_HTTP_PORT: 'eighty', YULAN_EDGE_URL: 'ftp://x', YULAN_ADMIN_TOKEN: 'short-secret', YULAN_EDGE_TOKEN: '' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.code).toBe('E_CONFIG');
    const vars = ce.problems.map((p) => p.split(':')[0]).sort();
    expect(vars).toEqual(['YULAN_ADMIN_TOKEN', 'YULAN_BROKER_TOKEN', 'YULAN_CLOUD_MQTT_PASSWORD', 'YULAN_EDGE_TOKEN', 'YULAN_EDGE_URL', 'YULAN_HTTP_PORT']);
    expect(ce.message).not.toContain('short-secret');
  });

  it('reads YULAN_BROKER_ADMIN_URL (the broker view) without its trailing slash, refusing a non-http URL', () => {
    expect(loadCloudConfig(required).brokerAdminUrl).toBeUndefined();
    expect(loadCloudConfig({ ...required, YULAN_BROKER_ADMIN_URL: 'http://127.0.0.1:8083/' }).brokerAdminUrl).toBe('http://127.0.0.1:8083');
    for (const bad of ['ws://127.0.0.1:8083', '127.0.0.1:8083', 'http://']) {
      expect(() => loadCloudConfig({ ...required, YULAN_BROKER_ADMIN_URL: bad }), bad).toThrow(/YULAN_BROKER_ADMIN_URL/);
    }
  });

  it('reads YULAN_TRUST_PROXY as addresses/CIDRs, refusing a hop count or "trust everyone"', () => {
    expect(loadCloudConfig({ ...required, YULAN_TRUST_PROXY: '10.0.0.0/8, ::1,loopback' }).trustProxy).toEqual(['10.0.0.0/8', '::1', 'loopback']);
    expect(loadCloudConfig(required).trustProxy).toBeUndefined();
    for (const bad of ['true', '2', '10.0.0.0/33', 'proxy.local', '1.2.3.4;5.6.7.8']) {
      expect(() => loadCloudConfig({ ...required, YULAN_TRUST_PROXY: bad }), bad).toThrow(/YULAN_TRUST_PROXY/);
    }
  });

  it('rejects a port above 65535', () => {
    expect(() => loadCloudConfig({ ...required, YULAN_HTTP_PORT: '70000' })).toThrow(/YULAN_HTTP_PORT/);
  });
});
