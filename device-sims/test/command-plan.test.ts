import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommandStatus, DeviceKind, type Command } from '@yulan/protos';
import {
  FailureMode, RecentIds, parseCommandFailures, pickFailure, planCommand, type PlanContext,
} from '../src/command-plan.js';
import { CommandRunner, type CommandRunnerHost } from '../src/command-runner.js';
import { createDeviceModel } from '../src/models/index.js';

const cmd = (name: string, expiresMs = 0, args: Record<string, string> = {}, commandId = 'c1'): Command => ({ commandId, name, args, issuedMs: 1000, expiresMs });
const ctx = (p: Partial<PlanContext> = {}): PlanContext => ({
  nowMs: 2000, check: { ok: true, reboot: false }, failure: FailureMode.None, timing: { execMs: 100, rebootDownMs: 1500, slowMs: 5000 }, ...p,
});
const statuses = (steps: ReturnType<typeof planCommand>): string[] =>
  steps.map((s) => (s.type === 'result' ? `${s.delayMs}:${s.status}` : `${s.delayMs}:${s.type}`));

describe('planCommand', () => {
  it('accepts, then executes and reports from the outcome', () => {
    expect(planCommand(cmd('locker.open'), ctx())).toEqual([
      { type: 'result', delayMs: 0, status: CommandStatus.ACCEPTED, message: 'accepted' },
      { type: 'execute', delayMs: 100, effect: true, report: true },
    ]);
  });

  it('a reboot goes offline and reports SUCCEEDED after the execution (queued until the birth)', () => {
    expect(statuses(planCommand(cmd('reboot'), ctx({ check: { ok: true, reboot: true } })))).toEqual([
      `0:${CommandStatus.ACCEPTED}`, '100:execute', '100:reboot', `101:${CommandStatus.SUCCEEDED}`,
    ]);
  });

  it('refuses an expired command before looking at it', () => {
    expect(planCommand(cmd('reboot', 1500), ctx({ failure: FailureMode.Timeout }))).toEqual([
      { type: 'result', delayMs: 0, status: CommandStatus.EXPIRED, message: 'command expired before delivery' },
    ]);
  });

  it('rejects what the model refuses, with its message', () => {
    const [r] = planCommand(cmd('locker.open'), ctx({ check: { ok: false, message: '"compartment" must be an integer 1..12, got "x"' } }));
    expect(r).toMatchObject({ type: 'result', status: CommandStatus.REJECTED, message: expect.stringContaining('compartment') });
  });

  it('injected failures: refuse, timeout, no effect, slow', () => {
    expect(statuses(planCommand(cmd('x'), ctx({ failure: FailureMode.Refuse })))).toEqual([`0:${CommandStatus.REJECTED}`]);
    expect(planCommand(cmd('x'), ctx({ failure: FailureMode.Timeout }))).toEqual([]);
    expect(planCommand(cmd('x'), ctx({ failure: FailureMode.NoEffect }))[1]).toEqual({ type: 'execute', delayMs: 100, effect: false, report: true });
    expect(statuses(planCommand(cmd('x'), ctx({ failure: FailureMode.Slow })))).toEqual([`5000:${CommandStatus.ACCEPTED}`, '5100:execute']);
    // A reboot with no effect claims success without ever going offline.
    expect(statuses(planCommand(cmd('reboot'), ctx({ check: { ok: true, reboot: true }, failure: FailureMode.NoEffect })))).toEqual([
      `0:${CommandStatus.ACCEPTED}`, `1600:${CommandStatus.SUCCEEDED}`,
    ]);
  });
});

describe('failure injection', () => {
  it('parses the CLI spec and rejects nonsense', () => {
    expect(parseCommandFailures('refuse=0.05, timeout=0.1,no-effect=0.2,slow=0.3,slow-ms=2000')).toEqual({
      refuse: 0.05, timeout: 0.1, noEffect: 0.2, slow: 0.3, slowMs: 2000,
    });
    expect(() => parseCommandFailures('explode=0.1')).toThrow(/unknown failure/);
    expect(() => parseCommandFailures('refuse=2')).toThrow(/at most 1/);
    expect(() => parseCommandFailures('refuse=0.6,timeout=0.6')).toThrow(/more than 1/);
  });

  it('is a function of (seed, command id) and follows the configured rates', () => {
    const f = { refuse: 0.1, timeout: 0.2, noEffect: 0.3 };
    expect(pickFailure(f, 7, 'abc')).toBe(pickFailure(f, 7, 'abc'));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const m = pickFailure(f, 7, `cmd-${i}`);
      counts[m] = (counts[m] ?? 0) + 1;
    }
    expect(counts.refuse! / 4000).toBeCloseTo(0.1, 1);
    expect(counts.timeout! / 4000).toBeCloseTo(0.2, 1);
    expect(counts['no-effect']! / 4000).toBeCloseTo(0.3, 1);
    expect(pickFailure(undefined, 7, 'abc')).toBe(FailureMode.None);
  });
});

/** A host with a fake clock: scheduled steps run when `advance` passes their time. */
function fakeHost() {
  let now = 0;
  const queue: { at: number; fn: () => void }[] = [];
  const results: { id: string; status: CommandStatus; message: string }[] = [];
  const reboots: number[] = [];
  const host: CommandRunnerHost = {
    clock: () => now,
    schedule: (fn, delayMs) => void queue.push({ at: now + delayMs, fn }),
    result: (id, status, message) => void results.push({ id, status, message }),
    reboot: (downMs) => void reboots.push(downMs),
    firmwareUpdate: (c) => void results.push({ id: c.commandId, status: CommandStatus.REJECTED, message: 'fw' }),
  };
  const advance = (ms: number): void => {
    now += ms;
    queue.sort((a, b) => a.at - b.at);
    while (queue.length > 0 && queue[0]!.at <= now) queue.shift()!.fn();
  };
  return { host, results, reboots, advance };
}

describe('CommandRunner', () => {
  it('executes a command id at most once whatever the redelivery pattern (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ id: fc.integer({ min: 0, max: 15 }), gapMs: fc.integer({ min: 0, max: 400 }) }), { minLength: 1, maxLength: 60 }),
      fc.constantFrom(undefined, { noEffect: 0.3, slow: 0.3, slowMs: 250 }),
      (deliveries, failures) => {
        const model = createDeviceModel(DeviceKind.PARCEL_LOCKER, 1, 0, { parcelLocker: { compartments: 4 } });
        const executed: string[] = [];
        const execute = model.executeCommand.bind(model);
        model.executeCommand = (name, args) => {
          executed.push(args.tag!);
          return execute(name, args);
        };
        const { host, results, advance } = fakeHost();
        const runner = new CommandRunner(host, { model, seed: 3, ...(failures && { failures }) });
        for (const d of deliveries) {
          runner.handle(cmd('locker.unlock', 0, { compartment: '1', tag: `t${d.id}` }, `id-${d.id}`));
          advance(d.gapMs);
        }
        advance(10_000);
        const unique = new Set(deliveries.map((d) => d.id));
        expect(new Set(executed).size).toBe(executed.length);
        for (const id of unique) {
          const mine = results.filter((r) => r.id === `id-${id}`).map((r) => r.status);
          expect(mine.filter((s) => s === CommandStatus.ACCEPTED)).toHaveLength(1);
          expect(mine.filter((s) => s === CommandStatus.SUCCEEDED)).toHaveLength(1);
        }
        expect(executed.length).toBeLessThanOrEqual(unique.size);
      },
    ), { numRuns: 200 });
  });

  it('remembered ids survive a reboot when the same RecentIds is passed on (flash)', () => {
    const { host, results } = fakeHost();
    const first = new CommandRunner(host);
    first.handle(cmd('reboot', 0, {}, 'r-1'));
    const afterReboot = new CommandRunner(host, { recent: new RecentIds(8, first.recent.snapshot()) });
    expect(afterReboot.handle(cmd('reboot', 0, {}, 'r-1'))).toBe(false);
    expect(results.filter((r) => r.id === 'r-1')).toHaveLength(1);
  });

  it('runs a reboot: ACCEPTED, offline, SUCCEEDED; firmware.update goes to the firmware hook', () => {
    const { host, results, reboots, advance } = fakeHost();
    const runner = new CommandRunner(host, { timing: { rebootDownMs: 700 } });
    runner.handle(cmd('reboot', 0, {}, 'r'));
    advance(1000);
    expect(reboots).toEqual([700]);
    expect(results.map((r) => r.status)).toEqual([CommandStatus.ACCEPTED, CommandStatus.SUCCEEDED]);
    runner.handle(cmd('firmware.update', 0, {}, 'fw-1'));
    expect(results.at(-1)).toMatchObject({ id: 'fw-1', message: 'fw' });
    runner.handle(cmd('charger.start_session', 0, {}, 'x'));
    expect(results.at(-1)).toMatchObject({ status: CommandStatus.REJECTED, message: expect.stringContaining('unsupported') });
  });
});

describe('RecentIds', () => {
  it('says yes once per id and forgets the oldest past its capacity', () => {
    const r = new RecentIds(2);
    expect([r.firstTime('a'), r.firstTime('a'), r.firstTime('b'), r.firstTime('c'), r.firstTime('a')]).toEqual([true, false, true, true, true]);
  });
});
