/** FNV-1a over a seed and a string: stable across processes and restarts (unlike
 * Math.random), which is what makes stage membership and start delays reproducible. */
export function fnv1a(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32): plain FNV leaves similar ids with similar hashes
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

export const unitFloat = (h: number): number => (h >>> 0) / 4294967296;
