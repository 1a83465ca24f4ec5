import { describe, expect, it } from 'vitest';
import { measureIngest, parseIngestArgs } from '../src/ingest.js';

describe('ingest benchmark harness', () => {
  it('parses loads and refuses nonsense', () => {
    expect(parseIngestArgs(['--loads', '200x100,50x2.5', '--stores', 'sqlite']).loads).toEqual([{ devices: 200, rate: 100 }, { devices: 50, rate: 2.5 }]);
    expect(parseIngestArgs(['--devices', '8', '--rate', '3']).loads).toEqual([{ devices: 8, rate: 3 }]);
    expect(() => parseIngestArgs(['--loads', '200'])).toThrow(/DEVICESxRATE/);
    expect(() => parseIngestArgs(['--qos', '2'])).toThrow(/qos/);
    expect(() => parseIngestArgs(['--stores', 'mongodb'])).toThrow(/unknown store/);
  });

  // The harness itself, small: real `yulan` processes, real devices with registered
  // credentials, every acknowledged message read back from the store.
  it('drives real services and accounts for every message', async () => {
    const [r] = await measureIngest({ loads: [{ devices: 8, rate: 20 }], durationS: 2, qos: 1, workers: 1, stores: ['sqlite'] });
    expect(r!.devices).toBe(8);
    expect(r!.published).toBeGreaterThan(100);
    expect(r!.acked).toBe(r!.published);
    expect(r!.stored).toBe(r!.published);
    expect(r!.lost).toBe(0);
    expect(r!.duplicates).toBe(0);
    expect(r!.lag.count).toBe(r!.stored);
  }, 120_000);
});
