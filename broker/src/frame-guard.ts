/**
 * Tracks MQTT frame boundaries in the raw byte stream so an oversized packet is caught
 * from its fixed header, before the parser buffers its body. Aedes' mqtt-packet parser
 * has no size limit: a client announcing a 200 MB PUBLISH would otherwise be buffered
 * in full. Only headers are decoded; bodies are skipped by counting, so the cost per
 * chunk is one loop step per packet.
 */
const HEADER = 0;
const LENGTH = 1;
const BODY = 2;

export class FrameGuard {
  readonly limit: number;
  #state = HEADER;
  #len = 0;
  #mult = 1;
  #lenBytes = 0;
  #skip = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Feeds the next chunk; returns the size of the first packet over the limit, or 0.
   * A malformed length (more than 4 bytes) is left for the MQTT parser to reject. */
  feed(buf: Uint8Array): number {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.#state === BODY) {
        const take = Math.min(this.#skip, n - i);
        this.#skip -= take;
        i += take;
        if (this.#skip === 0) this.#state = HEADER;
      } else if (this.#state === HEADER) {
        i++;
        this.#state = LENGTH;
        this.#len = 0;
        this.#mult = 1;
        this.#lenBytes = 0;
      } else {
        const b = buf[i++] as number;
        this.#len += (b & 0x7f) * this.#mult;
        this.#mult *= 128;
        this.#lenBytes++;
        if (b & 0x80) {
          if (this.#lenBytes >= 4) return 0;
          continue;
        }
        const total = 1 + this.#lenBytes + this.#len;
        if (total > this.limit) return total;
        this.#skip = this.#len;
        this.#state = this.#len === 0 ? HEADER : BODY;
      }
    }
    return 0;
  }
}
