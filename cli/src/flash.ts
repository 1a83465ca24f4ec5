import { CliError, ExitCode } from './commands/errors.js';
import type { SerialLine } from './serial.js';
import { YmodemErrorCode, YmodemSender, type SenderOptions } from './ymodem-sender.js';

export interface FlashOptions extends SenderOptions {
  onProgress?: (bytesAcked: number, total: number) => void;
  /** Clock tick period; the protocol's timeouts are whole seconds, so 100 ms is plenty. */
  tickMs?: number;
}

const EXIT_FOR: Record<YmodemErrorCode, ExitCode> = {
  [YmodemErrorCode.Timeout]: ExitCode.Timeout,
  [YmodemErrorCode.TooManyNaks]: ExitCode.DeviceFailed,
  [YmodemErrorCode.Cancelled]: ExitCode.Cancelled,
};

export interface FlashResult {
  /** False when the receiver took the file (its EOT was ACKed) but its ACK of the
   * end-of-batch block never arrived: lrzsz's rb exits right after sending it. */
  endConfirmed: boolean;
}

/**
 * Drives the pure YMODEM sender over a serial line: bytes in → sender → frames out, plus
 * a clock tick. Frames are written one at a time in order (each write drains), so a
 * retransmission can never overtake the frame it repeats.
 */
export function sendFile(line: SerialLine, name: string, data: Uint8Array, opts: FlashOptions = {}): Promise<FlashResult> {
  const sender = new YmodemSender(name, data, Date.now(), opts);
  return new Promise<FlashResult>((resolve, reject) => {
    let writing: Promise<void> = Promise.resolve();
    let settled = false;
    let reported = -1;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      // Let the last frame (the batch end's ACK has arrived, but a write may be pending) drain.
      void writing.finally(() => (err ? reject(err) : resolve({ endConfirmed: sender.endConfirmed })));
    };
    const pump = (frames: Uint8Array[]): void => {
      for (const f of frames) writing = writing.then(() => line.write(f)).catch((err: unknown) => finish(err as Error));
      if (sender.bytesAcked !== reported) { reported = sender.bytesAcked; opts.onProgress?.(reported, sender.total); }
      if (sender.phase === 'done') finish();
      else if (sender.error) finish(new CliError(sender.error.code, sender.error.message, EXIT_FOR[sender.error.code], { cause: sender.error }));
    };
    line.onData((bytes) => { if (!settled) pump(sender.receive(bytes, Date.now())); });
    const timer = setInterval(() => pump(sender.tick(Date.now())), opts.tickMs ?? 100);
    pump([]);
  });
}
