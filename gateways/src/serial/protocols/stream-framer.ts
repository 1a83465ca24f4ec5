/**
 * Frame finding shared by the four serial parsers. A sensor's UART is a byte stream with no
 * framing of its own: the host may open the port mid-frame, a loose wire adds garbage, a
 * noisy line flips bits. Each protocol supplies `inspect`, which looks at the bytes from a
 * header candidate on; the framer buffers, resynchronises on the next header after anything
 * that is not a whole valid frame, counts what it dropped, and never throws.
 */

export interface FramerStats {
  frames: number;
  /** Frames whose checksum (sum or XOR) did not match. */
  checksumErrors: number;
  /** Headers followed by an impossible length or a missing tail: not a frame. */
  lengthErrors: number;
  /** Bytes skipped while looking for a header. */
  garbageBytes: number;
}

export type Inspection =
  | { kind: 'need-more' }
  | { kind: 'checksum' }
  | { kind: 'length' }
  /** The header bytes occur here as ordinary data (e.g. SDS011's `AA` not followed by C0/C5). */
  | { kind: 'not-header' }
  | { kind: 'frame'; length: number };

export interface FrameSpec {
  /** The header bytes that open every frame of this protocol. */
  header: readonly number[];
  /** Called with buf[at] … being a full header; must not read past buf.length. */
  inspect(buf: Uint8Array, at: number): Inspection;
  /** Longest frame the protocol allows: the buffer never holds more than this unframed. */
  maxFrame: number;
}

export function newStats(): FramerStats {
  return { frames: 0, checksumErrors: 0, lengthErrors: 0, garbageBytes: 0 };
}

export class StreamFramer {
  readonly stats: FramerStats = newStats();
  private buf = new Uint8Array(0);

  constructor(private readonly spec: FrameSpec) {}

  /** Feeds bytes as they arrive; returns the complete valid frames, in order (copies). */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf, 0);
    joined.set(chunk, this.buf.length);
    const buf = joined;
    const h = this.spec.header;
    let i = 0;
    while (i < buf.length) {
      const at = this.findHeader(buf, i);
      if (at < 0) {
        // Keep a possible header prefix at the end; the rest is garbage.
        const keep = Math.min(this.prefixAtEnd(buf), buf.length - i);
        this.stats.garbageBytes += buf.length - keep - i;
        i = buf.length - keep;
        break;
      }
      this.stats.garbageBytes += at - i;
      i = at;
      if (buf.length - i < h.length) break;
      const r = this.spec.inspect(buf, i);
      if (r.kind === 'need-more') {
        if (buf.length - i > this.spec.maxFrame) {
          // Defensive: inspect should have said "length"; never let the buffer grow unbounded.
          this.stats.lengthErrors++;
          i += 1;
          continue;
        }
        break;
      }
      if (r.kind === 'frame') {
        out.push(buf.slice(i, i + r.length));
        this.stats.frames++;
        i += r.length;
        continue;
      }
      if (r.kind === 'checksum') this.stats.checksumErrors++;
      else if (r.kind === 'length') this.stats.lengthErrors++;
      else this.stats.garbageBytes++;
      // The header may have been a coincidence inside garbage: resume one byte on, so a real
      // frame that starts inside the rejected bytes is still found.
      i += 1;
    }
    this.buf = buf.slice(i);
    return out;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = new Uint8Array(0);
  }

  private findHeader(buf: Uint8Array, from: number): number {
    const h = this.spec.header;
    outer: for (let i = from; i + h.length <= buf.length; i++) {
      for (let k = 0; k < h.length; k++) if (buf[i + k] !== h[k]) continue outer;
      return i;
    }
    return -1;
  }

  /** Length of the longest proper header prefix the buffer ends with. */
  private prefixAtEnd(buf: Uint8Array): number {
    const h = this.spec.header;
    for (let n = Math.min(h.length - 1, buf.length); n > 0; n--) {
      let ok = true;
      for (let k = 0; k < n; k++) if (buf[buf.length - n + k] !== h[k]) { ok = false; break; }
      if (ok) return n;
    }
    return 0;
  }
}

export const be16 = (b: Uint8Array, i: number): number => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
export const le16 = (b: Uint8Array, i: number): number => (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);

export function sum(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += b[i] ?? 0;
  return s;
}
