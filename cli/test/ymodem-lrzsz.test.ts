import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Bootloader, openSerialLink } from '../../device-sims/src/bootloader/index.js';
import { openSerialLine } from '../src/serial.js';
import { blockedReadingStdin, lrzszAvailable, runOnTty, type ToolRun } from './lrzsz-support.js';
import { ptyPair, socatAvailable, type PtyPair } from './serial-support.js';
import { eventually, tempDir } from './support.js';

// Interop with the standard tools (Debian lrzsz) over a real socat pty pair through the
// real serialport package: `yulan flash` → `rb --ymodem`, and `sz --ymodem` → the
// bootloader simulator, each started in either order. Sizes: one byte, exactly one short
// block, exactly one long block, one byte more, and files that wrap the block number.
const SIZES = [1, 128, 1024, 1025, 70_000, 300_000];
/** Generous: a transfer that hangs fails here instead of at vitest's test timeout. */
const TRANSFER_MS = 60_000;

describe.skipIf(!socatAvailable() || !lrzszAvailable())('YMODEM interop with lrzsz over a pty', () => {
  const tmp = tempDir('yulan-lrzsz-');
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
  afterAll(() => tmp.cleanup());

  async function setup(name: string): Promise<{ pair: PtyPair; dir: string }> {
    const dir = join(tmp.dir, name);
    mkdirSync(dir, { recursive: true });
    const pair = await ptyPair(dir, 'line');
    cleanups.push(() => pair.close());
    return { pair, dir };
  }

  function image(dir: string, name: string, size: number): Buffer {
    const data = randomBytes(size);
    writeFileSync(join(dir, name), data);
    return data;
  }

  function tool(bin: 'sz' | 'rb', args: string[], tty: string, cwd: string): ToolRun {
    const run = runOnTty(bin, args, tty, cwd);
    cleanups.push(() => run.kill());
    return run;
  }

  function within<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${what} did not finish within ${TRANSFER_MS / 1000} s`)), TRANSFER_MS);
      p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e as Error); });
    });
  }

  /** `yulan flash` in-process, its stderr observable while it runs. */
  async function startFlash(args: string[]): Promise<{ stderr(): string; done: Promise<{ code: number; stdout: string; stderr: string }> }> {
    const { runEngineerCommand } = await import('../src/commands/index.js');
    let stdout = '';
    let stderr = '';
    const sink = (append: (s: string) => void) => ({ isTTY: false, write: (s: string | Uint8Array) => { append(String(s)); return true; } }) as unknown as NodeJS.WriteStream;
    const [name, ...rest] = args;
    const done = runEngineerCommand(name!, rest, { env: {}, stdout: sink((s) => { stdout += s; }), stderr: sink((s) => { stderr += s; }) })
      .then((code) => ({ code, stdout, stderr }));
    return { stderr: () => stderr, done };
  }

  describe('yulan flash → rb --ymodem', () => {
    it.each(SIZES)('rb started first (its first C is gone before the port opens): %i bytes', async (size) => {
      const { pair, dir } = await setup(`rb-first-${size}`);
      const fw = image(dir, `fw-${size}.bin`, size);
      const out = join(dir, 'out');
      mkdirSync(out);
      const rb = tool('rb', ['--ymodem'], pair.device, out);
      // Take rb's first 'C' off the line, as a terminal program open before `yulan flash`
      // would: the flash then starts with nothing to answer.
      const peek = await openSerialLine(pair.host, 115_200);
      let sawC = false;
      peek.onData((b) => { if (b.includes(0x43)) sawC = true; });
      await eventually(() => sawC, "rb's first 'C'");
      await peek.close();

      const flash = await startFlash(['flash', '--port', pair.host, '--timeout', '30', join(dir, `fw-${size}.bin`)]);
      const r = await within(flash.done, 'yulan flash');
      const rbDone = await within(rb.exited, 'rb');
      expect(r.stderr).not.toMatch(/E_YMODEM/);
      expect(r.code).toBe(0);
      expect(rbDone.code).toBe(0);
      expect(readFileSync(join(out, `fw-${size}.bin`)).equals(fw)).toBe(true);
    }, 90_000);

    it.each(SIZES)('yulan flash started first: %i bytes', async (size) => {
      const { pair, dir } = await setup(`flash-first-${size}`);
      const fw = image(dir, `fw-${size}.bin`, size);
      const out = join(dir, 'out');
      mkdirSync(out);
      const flash = await startFlash(['flash', '--port', pair.host, '--timeout', '30', join(dir, `fw-${size}.bin`)]);
      await eventually(() => flash.stderr().includes('waiting for the bootloader'), 'yulan flash to open the port');
      const rb = tool('rb', ['--ymodem'], pair.device, out);
      const r = await within(flash.done, 'yulan flash');
      const rbDone = await within(rb.exited, 'rb');
      expect(r.stderr).not.toMatch(/E_YMODEM/);
      expect(r.code).toBe(0);
      expect(rbDone.code).toBe(0);
      expect(readFileSync(join(out, `fw-${size}.bin`)).equals(fw)).toBe(true);
    }, 90_000);
  });

  describe('sz --ymodem → bootloader simulator', () => {
    async function bootloader(pair: PtyPair, dir: string): Promise<Bootloader> {
      const boot = new Bootloader(await openSerialLink(pair.device), { outDir: join(dir, 'flash'), pollMs: 200 });
      cleanups.push(() => boot.close());
      return boot;
    }

    async function expectFlashed(boot: Bootloader, sz: ToolRun, name: string, data: Buffer): Promise<void> {
      const szDone = await within(sz.exited, 'sz');
      expect(szDone.code).toBe(0);
      await eventually(() => boot.flashed.length > 0 || boot.cancelled > 0, 'the bootloader to finish the batch', TRANSFER_MS);
      expect(boot.cancelled).toBe(0);
      expect(boot.flashed).toHaveLength(1);
      expect(boot.flashed[0]!.name).toBe(name);
      expect(Buffer.from(boot.flashed[0]!.data).equals(data)).toBe(true);
    }

    it.each(SIZES)('bootloader first, several C polls queued before sz starts: %i bytes', async (size) => {
      const { pair, dir } = await setup(`boot-first-${size}`);
      const fw = image(dir, `fw-${size}.bin`, size);
      const boot = await bootloader(pair, dir);
      await eventually(() => boot.pollsSent >= 4, 'the bootloader to queue several C polls');
      const sz = tool('sz', ['--ymodem', `fw-${size}.bin`], pair.host, dir);
      await expectFlashed(boot, sz, `fw-${size}.bin`, fw);
    }, 90_000);

    it.each(SIZES)('sz started first: %i bytes', async (size) => {
      const { pair, dir } = await setup(`sz-first-${size}`);
      const fw = image(dir, `fw-${size}.bin`, size);
      const sz = tool('sz', ['--ymodem', `fw-${size}.bin`], pair.host, dir);
      await eventually(() => blockedReadingStdin(sz.pid, 'sz'), 'sz to wait for the receiver');
      const boot = await bootloader(pair, dir);
      await expectFlashed(boot, sz, `fw-${size}.bin`, fw);
    }, 90_000);
  });
});
