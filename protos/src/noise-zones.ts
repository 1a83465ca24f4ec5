/**
 * GB 3096-2008 acoustic environment zone classes and their LAeq limits in dB(A), day and
 * night. One table for the simulators (which model each zone) and the edge (which judges
 * exceedances against it), so the two cannot drift apart.
 */
export const NOISE_LIMITS = {
  '0': { day: 50, night: 40 },
  '1': { day: 55, night: 45 },
  '2': { day: 60, night: 50 },
  '3': { day: 65, night: 55 },
  '4a': { day: 70, night: 55 },
  '4b': { day: 70, night: 60 },
} as const;
export type NoiseZone = keyof typeof NOISE_LIMITS;
export const NOISE_ZONES = Object.keys(NOISE_LIMITS) as NoiseZone[];
