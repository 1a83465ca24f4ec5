import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignStages } from '../src/firmware/engine.js';
import { waitFor } from './helpers.js';
import { startStack, type Stack } from './firmware-stack.js';

/** Issue 19, end to end: each numbered defect against a running stack (broker, cloud link,
 * presence, HTTP downloads) with simulated devices that install, go dark, crash or hang. */
const SEED = 11;
let st: Stack;
let v2 = '';

beforeAll(async () => {
  st = await startStack({
    brick: { n: 10, behaviour: { offlineAfterInstallMs: 200 } },
    mute: { n: 10, behaviour: { silentAfterInstall: true } },
    two: { n: 6 },
    race: { n: 4 },
    late: { n: 8 },
    lateoff: { n: 2, offline: true },
    stage: { n: 20 },
    crash: { n: 3, behaviour: { crashWithoutEvent: true } },
    hang: { n: 4, behaviour: { hangInstalling: true } },
    many: { n: 30, behaviour: { faultAfterInstall: true } },
  }, { spreadSec: 0.2, soakSec: 1, reportEverySec: 2, missedReports: 3, updateTimeoutSec: 20, seed: SEED });
  v2 = await st.uploadVersion('2.0.0');
});
afterAll(async () => {
  await st?.close();
});
const ended = (v: Record<string, any>) => v.status === 'aborted' || v.status === 'completed';

describe('1. health means positive evidence', () => {
  it('devices that go dark after installing fail the health gate; the campaign does not complete', async () => {
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['brick'] }, stages: [0.3, 1] });
    expect(r.statusCode).toBe(201);
    const v = await st.until(r.json().id, 'campaign ended', ended);
    expect(v.status).toBe('aborted');
    const [, f] = /^abort threshold: (\d) of 3 finished or soaking devices of stage 1 failed/.exec(v.reason) ?? [];
    expect(Number(f)).toBeGreaterThan(0);
    expect(v.counts.failed).toBe(Number(f));
    expect(v.counts.succeeded).toBe(0);
    for (const f of v.failures) expect(f.reason).toMatch(/^health gate: (no telemetry since install|telemetry stopped) for \d+ s \(expected every 2 s\)/);
    expect(v.counts.skipped).toBe(7);
  });

  it('devices online but silent after installing (telemetry stopped) fail it too', async () => {
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['mute'] }, stages: [0.2, 1] });
    const v = await st.until(r.json().id, 'campaign ended', ended);
    expect(v.status).toBe('aborted');
    expect(v.failures.length).toBeGreaterThan(0);
    expect(v.counts.failed + v.counts.cancelled).toBe(2); // the canary stage's two
    for (const f of v.failures) expect(f.reason).toMatch(/^health gate: (telemetry stopped|no telemetry since install) for/);
    // they are connected, and on the new version: only telemetry is missing
    expect(st.site('mute').filter((d) => d.version === '2.0.0').every((d) => d.online)).toBe(true);
  });
});

describe('2. one live campaign per device; no silent downgrade', () => {
  it('a second campaign for claimed devices is a 409 naming the conflict; supersede is explicit; the superseded one cannot resume', async () => {
    const v12 = await st.uploadVersion('1.2.0');
    const v13 = await st.uploadVersion('1.3.0');
    const a = await st.create({ firmwareId: v12, target: { kind: 'ev-charger', sites: ['two'] }, stages: [0.2, 1], spreadSec: 3600 });
    expect(a.statusCode).toBe(201);
    const aId = a.json().id as string;
    expect((await st.post(`/campaigns/${aId}/pause`)).json().status).toBe('paused');
    const b = await st.create({ firmwareId: v13, target: { kind: 'ev-charger', sites: ['two'] }, stages: [1] });
    expect(b.statusCode).toBe(409);
    expect(b.json().message).toMatch(new RegExp(`6 device\\(s\\) \\(two-\\d, two-\\d, two-\\d, \\+3 more\\) are claimed by live campaign ${aId} \\(firmware 1\\.2\\.0\\).*supersede`));
    const sup = await st.create({ firmwareId: v13, target: { kind: 'ev-charger', sites: ['two'] }, stages: [1], supersede: true });
    expect(sup.statusCode).toBe(201);
    const old = await st.view(aId);
    expect(old).toMatchObject({ status: 'aborted', reason: `operator: superseded by campaign ${sup.json().id}` });
    const resumed = await st.post(`/campaigns/${aId}/resume`);
    expect(resumed.statusCode).toBe(409);
    const done = await st.until(sup.json().id, '1.3.0 completed', ended);
    expect(done.status).toBe('completed');
    expect(st.site('two').map((d) => d.version)).toEqual(Array(6).fill('1.3.0'));
    // Nothing can take them back to 1.2.0 without allowDowngrade.
    const down = await st.create({ firmwareId: v12, target: { kind: 'ev-charger', sites: ['two'] } });
    expect(down.statusCode).toBe(400);
    expect(down.json().message).toMatch(/downgrade.*allowDowngrade/);
  });

  it('two operators creating campaigns for the same devices at once: one wins, the other gets a 409', async () => {
    const [x, y] = await Promise.all([
      st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['race'] }, stages: [1], spreadSec: 3600 }),
      st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['race'] }, stages: [1], spreadSec: 3600 }),
    ]);
    expect([x.statusCode, y.statusCode].sort()).toEqual([201, 409]);
    const winner = x.statusCode === 201 ? x : y;
    expect((await st.post(`/campaigns/${winner.json().id}/abort`)).json().status).toBe('aborted');
  });
});

describe('3. devices catch up', () => {
  it('devices offline when their update is due are pending, then offered when they come back; the campaign completes', async () => {
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['late', 'lateoff'] }, stages: [1] });
    const id = r.json().id as string;
    const pending = await waitFor(async () => {
      const list = await st.rollouts(id, '?status=pending');
      return list.total === 2 ? list : undefined;
    }, 'two pending devices');
    expect(pending.items.map((d) => d.deviceId).sort()).toEqual(['lateoff-0', 'lateoff-1']);
    expect(pending.items.every((d) => d.online === false && d.offers === 0)).toBe(true);
    await st.until(id, 'online ones succeeded', (v) => v.counts.succeeded === 8);
    expect((await st.view(id)).status).toBe('running'); // waits for them rather than failing them
    for (const d of st.site('lateoff')) await d.restart();
    const v = await st.until(id, 'completed', ended);
    expect(v).toMatchObject({ status: 'completed', failures: [] });
    expect(v.counts.succeeded).toBe(10);
    expect(st.site('lateoff').every((d) => d.version === '2.0.0')).toBe(true);
  });
});

describe('4 and 6. thresholds per stage, on every result', () => {
  it('3 of the 10 devices of stage 2 failing aborts, though 3 of 20 over both stages is under abortAt', async () => {
    const ids = st.site('stage').map((d) => d.id);
    const stageOf = assignStages(ids, [0.5, 1], SEED);
    const second = st.site('stage').filter((d) => stageOf.get(d.id) === 1);
    expect(second).toHaveLength(10);
    for (const d of second.slice(0, 3)) d.behaviour = { bootFails: true };
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['stage'] }, stages: [0.5, 1], abortAt: 0.2, advanceAt: 0.7 });
    const v = await st.until(r.json().id, 'ended', ended);
    expect(v.status).toBe('aborted');
    expect(v.reason).toMatch(/^abort threshold: 3 of 10 finished or soaking devices of stage 2 failed \(30 % > abortAt 20 %\)/);
  });

  it('30 devices failing at about the same time abort on the crossing failure, no overshoot', async () => {
    // a soak long enough for every fault to arrive, even on a loaded machine
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['many'] }, stages: [1], abortAt: 0.5, minSample: 10, spreadSec: 0.5, soakSec: 10 });
    const v = await st.until(r.json().id, 'ended', ended);
    const [, f, n] = /^abort threshold: (\d+) of (\d+) finished or soaking devices of stage 1 failed/.exec(v.reason) ?? [];
    expect(Number(n)).toBeGreaterThanOrEqual(10);
    expect(Number(f) / Number(n)).toBeGreaterThan(0.5);
    // no overshoot: not one failure more than the one that crossed the threshold
    expect(v.counts.failed).toBe(Number(f));
    expect(v.counts.failed + v.counts.cancelled + v.counts.skipped).toBe(30);
  });
});

describe('5. every device result counts', () => {
  it('a FAILED command result without a firmware.failed event fails the device at once, with the device\'s reason', async () => {
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['crash'] }, stages: [1], abortAt: 1 });
    const v = await st.until(r.json().id, 'ended', ended);
    expect(v.counts.failed).toBe(3);
    for (const f of v.failures) expect(f.reason).toBe('device: firmware update crashed: out of flash');
    expect(v.reason).toMatch(/^health gate: 0 of 3 finished devices of stage 1 succeeded/);
  });

  it('an operator abort leaves devices that were installing in a final state with the reason', async () => {
    const r = await st.create({ firmwareId: v2, target: { kind: 'ev-charger', sites: ['hang'] }, stages: [1] });
    const id = r.json().id as string;
    await st.until(id, 'all installing', (v) => v.counts.installing === 4);
    expect((await st.post(`/campaigns/${id}/abort`)).json()).toMatchObject({ status: 'aborted', reason: 'operator: aborted by an operator' });
    const v = await st.view(id);
    expect(v.counts.installing).toBe(0);
    expect(v.counts.cancelled).toBe(4);
    const list = await st.rollouts(id);
    for (const d of list.items) expect(d.reason).toBe('campaign aborted (operator: aborted by an operator) while installing');
  });
});
