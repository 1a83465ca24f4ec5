import { describe, expect, it } from 'vitest';
import { SecurityEngine, type Decision } from '../src/security/engine.js';
import { loadCloudConfig } from '../src/config.js';
import { effectiveRules, parseRuleOverrides, RULES } from '../src/security/rules.js';

/** The security monitor's decision engine (security/engine.ts), fed samples by hand. */
const rule = { id: 'auth', threshold: 10, windowSec: 60 };

function run(samples: [number, number | undefined][], open = new Map<string, number>()): Decision[][] {
  const e = new SecurityEngine([rule]);
  const out: Decision[][] = [];
  for (const [sec, value] of samples) {
    const ds = e.observe(sec * 1000, { auth: value }, open);
    for (const d of ds) {
      if (d.kind === 'open') open.set('auth', 7);
      if (d.kind === 'close') open.delete('auth');
    }
    out.push(ds);
  }
  return out;
}
const kinds = (rounds: Decision[][]): string[] => rounds.map((ds) => ds.map((d) => d.kind).join(',') || '-');

describe('security engine', () => {
  it('the first reading is only a baseline: a large counter at start opens nothing', () => {
    expect(kinds(run([[0, 5000], [10, 5001]]))).toEqual(['-', '-']);
  });

  it('opens once when the rise within the window reaches the threshold, updates while it lasts, closes after a calm window', () => {
    const rounds = run([[0, 0], [10, 4], [20, 10], [30, 30], [40, 50], [50, 50], [90, 50], [100, 50]]);
    expect(kinds(rounds)).toEqual(['-', '-', 'open', 'seen', 'seen', '-', '-', 'close']);
    expect(rounds[2]![0]).toMatchObject({ kind: 'open', count: 10 });
    expect(rounds[3]![0]).toMatchObject({ kind: 'seen', alertId: 7, added: 20, count: 30 });
    // at 90 s the window (30, 90] still holds the rise of 20 at 40 s; at 100 s the window
    // (40, 100] is calm and whole → closed
    expect(rounds[7]![0]).toMatchObject({ kind: 'close', alertId: 7, count: 0 });
  });

  it('does not close while the rate stays above half the threshold (hysteresis), closes at or below it', () => {
    // 6 per 60 s after opening: above 10/2, stays open; then 5 per 60 s: closes
    const r = run([[0, 0], [30, 10], [90, 16], [150, 22], [210, 27]]);
    expect(kinds(r)).toEqual(['-', 'open', 'seen', 'seen', 'close']);
  });

  it('a counter that goes down (the broker restarted) counts its new value as new events', () => {
    const r = run([[0, 100], [10, 105], [20, 6]]);
    expect(kinds(r)).toEqual(['-', '-', 'open']);
    expect(r[2]![0]).toMatchObject({ count: 11 });
  });

  it('a missing reading decides nothing: no false alert, and an open alert is not closed on missing data', () => {
    const open = new Map([['auth', 3]]);
    const r = run([[0, 0], [70, undefined], [140, undefined], [200, undefined]], open);
    expect(kinds(r)).toEqual(['-', '-', '-', '-']);
    expect(open.get('auth')).toBe(3);
  });

  it('after a restart an open alert (from the store) is neither duplicated nor closed before a whole calm window is seen', () => {
    const open = new Map([['auth', 3]]);
    const r = run([[0, 900], [10, 950], [30, 950], [65, 950], [71, 950]], open);
    // a rise after the restart updates the stored alert; calm closes it only once 60 s of samples exist
    expect(kinds(r)).toEqual(['-', 'seen', '-', '-', 'close']);
    expect(r[1]![0]).toMatchObject({ kind: 'seen', alertId: 3, added: 50 });
  });
});

describe('security monitor configuration', () => {
  const required = { YULAN_CLOUD_MQTT_PASSWORD: 'p', YULAN_BROKER_TOKEN: 'b', YULAN_EDGE_TOKEN: 'e' };

  it('overrides rules by id, switches one off, and refuses unknown ids and bad values naming them', () => {
    const c = loadCloudConfig({ ...required, YULAN_SECURITY_RULES: 'mqtt-auth=5/10, claims=off', YULAN_SECURITY_SAMPLE_MS: '500' });
    expect(c.security?.sampleMs).toBe(500);
    expect(c.security?.rules.find((r) => r.id === 'mqtt-auth')).toMatchObject({ threshold: 5, windowSec: 10, source: 'broker' });
    expect(c.security?.rules.some((r) => r.id === 'claims')).toBe(false);
    expect(c.security?.rules).toHaveLength(RULES.length - 1);
    expect(() => loadCloudConfig({ ...required, YULAN_SECURITY_RULES: 'nope=1/2' })).toThrow(/unknown rule "nope"/);
    expect(() => loadCloudConfig({ ...required, YULAN_SECURITY_RULES: 'mqtt-auth=0/60' })).toThrow(/threshold must be at least 1/);
    expect(() => loadCloudConfig({ ...required, YULAN_SECURITY_RULES: 'mqtt-auth=5/0' })).toThrow(/window must be/);
    expect(() => loadCloudConfig({ ...required, YULAN_SECURITY_RULES: 'mqtt-auth=5' })).toThrow(/not id=threshold\/windowSec/);
    expect(() => loadCloudConfig({ ...required, YULAN_SECURITY_SAMPLE_MS: '50' })).toThrow(/YULAN_SECURITY_SAMPLE_MS/);
    expect(loadCloudConfig({ ...required, YULAN_SECURITY_MONITOR: 'false' }).security).toBeUndefined();
    expect(parseRuleOverrides('mqtt-acl=1/1,mqtt-acl=2/2').problems).toEqual(['YULAN_SECURITY_RULES: rule "mqtt-acl" given twice']);
    expect(effectiveRules(new Map()).map((r) => r.id)).toEqual(RULES.map((r) => r.id));
  });

  it('reads each rule\'s figure from the broker\'s counters as /metrics shows them, missing fields as zero', () => {
    const byId = Object.fromEntries(RULES.map((r) => [r.id, r]));
    const broker = {
      authFailures: 3, authThrottled: 2, certRefused: { expired: 1, revoked: 1 }, claims: { loginsRefused: 4 },
      connectsThrottled: 5, quotaCooldownRefusals: 1, quotaRefused: 9, aclDenied: { publish: 2, subscribe: 3 },
      tlsRefused: { protocolVersion: 1, notTls: 2 }, adminRefused: 6,
    };
    expect(byId['mqtt-auth']!.read(broker)).toBe(11);
    expect(byId['mqtt-connect-flood']!.read(broker)).toBe(6);
    expect(byId['mqtt-quota']!.read(broker)).toBe(9);
    expect(byId['mqtt-acl']!.read(broker)).toBe(5);
    expect(byId['tls-refused']!.read(broker)).toBe(3);
    expect(byId['broker-admin']!.read(broker)).toBe(6);
    expect(byId['mqtt-auth']!.read({})).toBe(0);
  });
});
