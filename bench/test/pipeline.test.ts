import { describe, expect, it } from 'vitest';
import { measurePipeline, parsePipelineArgs } from '../src/pipeline.js';

describe('pipeline benchmark harness', () => {
  it('parses options and refuses nonsense', () => {
    expect(parsePipelineArgs([]).durationS).toBe(120);
    expect(parsePipelineArgs(['--devices', '8', '--rate', '2.5', '--interval', '1'])).toMatchObject({ devices: 8, rate: 2.5, intervalS: 1 });
    expect(() => parsePipelineArgs(['--stores', 'mongodb'])).toThrow(/unknown store/);
    expect(() => parsePipelineArgs(['--interval', '0'])).toThrow(/interval/);
  });

  // Real processes, tiny load: the per-interval view must account for the whole run.
  it('reports every interval of a sustained run and loses nothing', async () => {
    const [r] = await measurePipeline({ devices: 8, rate: 20, durationS: 3, intervalS: 1, stores: ['sqlite'], qos: 1, workers: 1 });
    expect(r!.run.acked).toBe(r!.run.published);
    expect(r!.run.stored).toBe(r!.run.acked);
    expect(r!.run.lost).toBe(0);
    expect(r!.run.lostSeqs).toEqual({});
    expect(r!.intervals.length).toBeGreaterThanOrEqual(3);
    expect(r!.intervals.reduce((a, i) => a + i.lost, 0)).toBe(0);
    expect(r!.intervals.some((i) => i.writtenPerS > 0)).toBe(true);
  }, 120_000);
});
