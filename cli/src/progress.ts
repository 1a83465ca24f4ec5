/**
 * Transfer progress on stderr (stdout stays clean for --json and pipes): a redrawn bar on
 * a terminal, one line per 10 % otherwise (CI logs, files), so logs stay readable.
 */
export interface Progress {
  update(bytes: number): void;
  done(ok: boolean): void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function createProgress(stream: NodeJS.WriteStream, label: string, total: number, now: () => number = Date.now): Progress {
  const started = now();
  const tty = stream.isTTY === true;
  let lastDecile = -1;
  let lastDraw = 0;
  const line = (bytes: number): string => {
    const pct = total === 0 ? 100 : Math.floor((bytes / total) * 100);
    const secs = Math.max((now() - started) / 1000, 0.001);
    return `${formatBytes(bytes)}/${formatBytes(total)} ${String(pct).padStart(3)}% ${formatBytes(Math.round(bytes / secs))}/s`;
  };
  return {
    update(bytes) {
      const pct = total === 0 ? 100 : Math.floor((bytes / total) * 100);
      if (tty) {
        // Redraw at most ~10 times a second: a 1 KiB block at 115200 baud takes ~90 ms.
        if (now() - lastDraw < 100 && bytes < total) return;
        lastDraw = now();
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${line(bytes)}\x1b[K`);
        return;
      }
      const decile = Math.floor(pct / 10);
      if (decile === lastDecile) return;
      lastDecile = decile;
      stream.write(`${label}: ${line(bytes)}\n`);
    },
    done(ok) {
      if (tty) stream.write(ok ? '\n' : '\r\x1b[K');
    },
  };
}
