import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CampaignStatus, DEFAULT_POLICY, RolloutStatus, abortSample, assignStages, hasStarted, isFinal, newRollout, observe, operate, plan, stageCounts, tallyStages,
  type CampaignPolicy, type CampaignState, type DeviceRollout, type Observation, type OperatorAction,
} from '../src/firmware/engine.js';

/**
 * Random campaign histories against the pure engine, folded and planned the way the runner
 * does (a plan after every report). Simulated devices join, leave, report telemetry, fault,
 * install or fail the offers that reach them; two operators pause/resume/abort on views that
 * may be stale. Checked after every step and at the end.
 */
const T0 = 1_700_000_000_000;
const TARGET = '2.0.0';

type Step =
  | { kind: 'tick'; dt: number }
  | { kind: 'sweep'; dt: number }
  | { kind: 'leave' | 'join' | 'telemetry' | 'fault' | 'install' | 'fail' | 'result-failed' | 'rollback' | 'badVersion'; who: number }
  | { kind: 'op'; operator: 0 | 1; action: OperatorAction };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 20_000 }) }) },
  // every online device reports, a few seconds later: healthy devices get through their soak
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('sweep' as const), dt: fc.integer({ min: 0, max: 6_000 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('leave' as const, 'join' as const, 'telemetry' as const, 'telemetry' as const, 'fault' as const,
    'install' as const, 'install' as const, 'install' as const, 'fail' as const, 'result-failed' as const, 'rollback' as const, 'badVersion' as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('op' as const), operator: fc.constantFrom(0 as const, 1 as const), action: fc.constantFrom<OperatorAction>('pause', 'resume', 'abort') }) },
);

interface Sim { id: string; online: boolean; version: string; /** holds an offer it has not acted on */ offer: boolean; offered: boolean }

const crossing = (ds: readonly DeviceRollout[], c: CampaignState, p: CampaignPolicy): number | undefined => {
  const t = tallyStages(ds, p.stages.length);
  for (let s = 0; s <= c.stage; s++) {
    const x = t[s]!;
    // judged: finished, or installed and soaking (docs/control.md §2.2)
    const n = x.succeeded + x.failed + x.soaking;
    if (n >= abortSample(x, p) && x.failed / n > p.abortAt) return s;
  }
  return undefined;
};

describe('campaign histories (property)', () => {
  it('no unintended version, nothing left non-final, abort exactly when a stage crosses its threshold', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 40 }), fc.array(stepArb, { maxLength: 150 }), fc.integer({ min: 0, max: 1000 }),
      fc.double({ min: 0.05, max: 0.5, noNaN: true }), fc.integer({ min: 1, max: 8 }), fc.boolean(),
      (n, steps, seed, abortAt, minSample, allowDowngrade) => {
        const p: CampaignPolicy = {
          ...DEFAULT_POLICY, seed, stages: [0.1, 0.5, 1], spreadSec: 20, soakSec: 10, updateTimeoutSec: 60, reportEverySec: 5,
          missedReports: 3, reofferSec: 10, maxOffers: 3, deadlineSec: 3600, abortAt, minSample, allowDowngrade,
        };
        const ids = Array.from({ length: n }, (_, i) => `d${i}`);
        const stageOf = assignStages(ids, p.stages, seed);
        // Every fifth device already runs something newer: only allowDowngrade may touch it.
        const sims = new Map<string, Sim>(ids.map((id, i) => [id, { id, online: i % 7 !== 3, version: i % 5 === 4 ? '3.0.0' : '1.0.0', offer: false, offered: false }]));
        let ds = ids.map((id) => newRollout(id, stageOf.get(id) ?? 0, T0, sims.get(id)!.version, sims.get(id)!.online));
        let c: CampaignState = { status: CampaignStatus.Running, stage: 0, stageStartedAt: T0, pausedAt: null, reason: null, deadlineAt: T0 + p.deadlineSec * 1000 };
        let now = T0;
        const counts = stageCounts(n, p.stages);

        let sends = 0;
        const byId = () => new Map(ds.map((d) => [d.deviceId, d]));
        const doPlan = (): void => {
          const wasAborted = c.status === CampaignStatus.Aborted;
          const before = c.status;
          const pre = ds;
          const r = plan(c, ds, now, p, TARGET);
          if (before !== CampaignStatus.Running) expect(r.send).toEqual([]);
          c = r.campaign;
          const m = new Map(r.changed.map((d) => [d.deviceId, d]));
          ds = ds.map((d) => m.get(d.deviceId) ?? d);
          sends += r.send.length;
          for (const id of r.send) {
            const s = sims.get(id)!;
            s.offered = true;
            if (s.online) s.offer = true;
            // else lost: QoS 1 to a clean session that is not there
          }
          // Exactly: the threshold fires in the very step a stage crosses it, never otherwise.
          if (!wasAborted) {
            const byThreshold = c.status === CampaignStatus.Aborted && (c.reason ?? '').startsWith('abort threshold');
            // judged as the rule saw it: before the abort cancelled the devices still under way
            const before = new Map(pre.map((d) => [d.deviceId, d]));
            const seen = ds.map((d) => (d.status === RolloutStatus.Cancelled && before.get(d.deviceId)!.status !== RolloutStatus.Cancelled ? before.get(d.deviceId)! : d));
            const s = crossing(seen, c, p);
            // (the other rules — health gate, deadline — are evaluated after the threshold, so a crossing always wins)
            expect(byThreshold).toBe(s !== undefined);
          }
          const started = ds.filter((d) => hasStarted(d.status) && d.status !== RolloutStatus.Skipped).length;
          expect(started).toBeLessThanOrEqual(counts[c.stage]!);
          if (c.status === CampaignStatus.Aborted || c.status === CampaignStatus.Completed) expect(ds.every((d) => isFinal(d.status))).toBe(true);
        };
        const see = (id: string, o: Observation): void => {
          ds = ds.map((d) => (d.deviceId === id ? observe(d, o, now, TARGET, p) : d));
          doPlan();
        };

        doPlan();
        for (const st of steps) {
          if (st.kind === 'tick') {
            now += st.dt;
            doPlan();
            continue;
          }
          if (st.kind === 'sweep') {
            now += st.dt;
            for (const x of sims.values()) if (x.online) see(x.id, { type: 'telemetry', version: x.version });
            doPlan();
            continue;
          }
          if (st.kind === 'op') {
            // Two operators act on views that may be stale; the engine decides on what is.
            const r = operate(c, ds, st.action, now, `operator ${st.operator}`);
            if ('error' in r) {
              expect(c.status === CampaignStatus.Aborted || c.status === CampaignStatus.Completed).toBe(true);
              continue;
            }
            c = r.campaign;
            const m = new Map(r.changed.map((d) => [d.deviceId, d]));
            ds = ds.map((d) => m.get(d.deviceId) ?? d);
            doPlan();
            continue;
          }
          // Device actions pick among the devices they can apply to, so histories get far.
          const offered = [...sims.values()].filter((x) => x.offer);
          const pool = ['install', 'badVersion', 'fail', 'result-failed', 'rollback'].includes(st.kind) ? offered
            : st.kind === 'join' ? [...sims.values()].filter((x) => !x.online) : [...sims.values()].filter((x) => x.online);
          if (pool.length === 0) continue;
          const s = pool[st.who % pool.length]!;
          switch (st.kind) {
            case 'leave':
              if (!s.online) break;
              s.online = false;
              s.offer = false; // the session and its queued commands are gone
              see(s.id, { type: 'presence', online: false, firmwareVersion: s.version });
              break;
            case 'join': {
              if (s.online) break;
              s.online = true;
              const was = byId().get(s.id)!;
              const sendsBefore = sends;
              see(s.id, { type: 'presence', online: true, firmwareVersion: s.version });
              // Catch-up: a pending device that returns to a running campaign is offered at once (budget allowing).
              if (was.status === RolloutStatus.Pending && c.status === CampaignStatus.Running && (was.offers ?? 0) < p.maxOffers && s.version === was.version) {
                expect(sends).toBe(sendsBefore + 1);
                expect(s.offer).toBe(true);
              }
              break;
            }
            case 'telemetry':
              if (s.online) see(s.id, { type: 'telemetry', version: s.version });
              break;
            case 'fault':
              if (s.online) see(s.id, { type: 'event', eventType: 'charger.fault', version: s.version });
              break;
            case 'install':
              if (!s.online || !s.offer) break;
              s.offer = false;
              s.version = TARGET;
              see(s.id, { type: 'progress', step: 'installed', version: TARGET });
              see(s.id, { type: 'presence', online: true, firmwareVersion: TARGET });
              break;
            case 'badVersion':
              // firmware that boots into something else than it claims
              if (!s.online || !s.offer) break;
              s.offer = false;
              s.version = '2.0.1-broken';
              see(s.id, { type: 'progress', step: 'installed', version: TARGET });
              see(s.id, { type: 'telemetry', version: s.version });
              break;
            case 'fail':
            case 'result-failed':
            case 'rollback':
              if (!s.online || !s.offer) break;
              s.offer = false;
              see(s.id, st.kind === 'fail' ? { type: 'progress', step: 'failed', reason: 'x' }
                : st.kind === 'rollback' ? { type: 'progress', step: 'rolled_back', reason: 'boot' } : { type: 'result', status: 'failed', message: 'crashed' });
              break;
          }
        }
        // Time runs out: past the deadline every campaign has ended.
        now = T0 + p.deadlineSec * 1000 + 1;
        doPlan();
        expect(c.status === CampaignStatus.Aborted || c.status === CampaignStatus.Completed).toBe(true);
        const final = byId();
        for (const [id, s] of sims) {
          const d = final.get(id)!;
          expect(isFinal(d.status)).toBe(true);
          expect(d.reason !== null || d.status === RolloutStatus.Succeeded).toBe(true);
          // Only a device the campaign offered the update to runs it; no newer device was offered one without allowDowngrade.
          if (s.version !== '1.0.0' && s.version !== '3.0.0') expect(s.offered).toBe(true);
          if (ids.indexOf(id) % 5 === 4 && !allowDowngrade) expect(s.offered).toBe(false);
          if (d.status === RolloutStatus.Succeeded) expect(s.version).toBe(TARGET);
        }
      },
    ), { numRuns: 800 });
  });
});
