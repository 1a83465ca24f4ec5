import { describe, expect, it } from 'vitest';
import { CommandStatus } from '@yulan/protos';
import { RecentIds, planCommand } from '../src/command-plan.js';

const cmd = (name: string, expiresMs = 0) => ({ commandId: 'c1', name, args: {}, issuedMs: 1000, expiresMs });

describe('planCommand', () => {
  it('accepts then completes a reboot after the delay', () => {
    expect(planCommand(cmd('reboot'), 2000, 150)).toEqual([
      { status: CommandStatus.ACCEPTED, message: 'rebooting', delayMs: 0 },
      { status: CommandStatus.SUCCEEDED, message: 'rebooted', delayMs: 150 },
    ]);
  });

  it('refuses an expired command before looking at it', () => {
    expect(planCommand(cmd('reboot', 1500), 2000, 150)).toEqual([{ status: CommandStatus.EXPIRED, message: 'command expired before delivery', delayMs: 0 }]);
  });

  it('rejects commands it does not know, naming them', () => {
    const [r] = planCommand(cmd('locker.self_destruct'), 2000, 150);
    expect(r?.status).toBe(CommandStatus.REJECTED);
    expect(r?.message).toContain('locker.self_destruct');
  });
});

describe('RecentIds', () => {
  it('says yes once per id and forgets the oldest past its capacity', () => {
    const r = new RecentIds(2);
    expect([r.firstTime('a'), r.firstTime('a'), r.firstTime('b'), r.firstTime('c'), r.firstTime('a')]).toEqual([true, false, true, true, true]);
  });
});
