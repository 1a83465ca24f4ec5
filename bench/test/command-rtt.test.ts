import { describe, expect, it } from 'vitest';
import { measureCommandRtt, parseCommandRttArgs } from '../src/command-rtt.js';

describe('command-rtt benchmark harness', () => {
  it('parses its options', () => {
    expect(parseCommandRttArgs(['--devices', '20', '--commands', '5', '--no-campaign'])).toMatchObject({ devices: 20, commands: 5, rate: 20, campaign: false });
    expect(() => parseCommandRttArgs(['--rate', '0'])).toThrow(/--rate/);
  });

  // Small: real services, real simulated lockers; every command confirmed by telemetry and
  // the rollout completed on every device.
  it('confirms every command by the device telemetry and completes a staged rollout', async () => {
    const r = await measureCommandRtt({ devices: 10, commands: 10, rate: 10, imageKiB: 16, campaign: true });
    expect(r.connected).toBe(10);
    expect(r.commands.succeeded).toBe(10);
    expect(r.commands.other).toEqual({});
    expect(r.campaign).toMatchObject({ status: 'completed', succeeded: 10, failed: 0 });
  }, 240_000);
});
