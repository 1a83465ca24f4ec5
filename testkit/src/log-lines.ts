import { Writable } from 'node:stream';

/**
 * A stream for a pino logger whose lines a test reads: `pino({ level: 'info' }, c.stream)`,
 * then `c.lines` holds each JSON line parsed, in order. A chunk may carry several lines.
 */
export function logLines<T = { level: number; msg: string }>(): { stream: Writable; lines: T[] } {
  const lines: T[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as T);
      done();
    },
  });
  return { stream, lines };
}
