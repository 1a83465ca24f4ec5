import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Bootloader, openSerialLink, type BootloaderOptions } from '../../device-sims/src/bootloader/index.js';
import { ptyPair, socatAvailable, yulan, type PtyPair } from './serial-support.js';
import { tempDir } from './support.js';

// The real serialport path end to end: `yulan flash` in its own process on one end of a
// socat pty pair, the bootloader simulator on the other.
describe.skipIf(!socatAvailable())('yulan flash over a serial line', () => {
  const tmp = tempDir('yulan-flash-');
  const open: { pair: PtyPair; boot?: Bootloader }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) { await o.boot?.close(); await o.pair.close(); }
  });
  afterAll(() => tmp.cleanup());

  async function device(name: string, opts: Partial<BootloaderOptions> = {}): Promise<{ pair: PtyPair; boot: Bootloader; outDir: string }> {
    const pair = await ptyPair(tmp.dir, name);
    const entry: { pair: PtyPair; boot?: Bootloader } = { pair };
    open.push(entry);
    const outDir = join(tmp.dir, `${name}-flash`);
    const boot = new Bootloader(await openSerialLink(pair.device), { outDir, pollMs: 200, ...opts });
    entry.boot = boot;
    return { pair, boot, outDir };
  }

  function image(name: string, size: number): { path: string; data: Buffer } {
    const data = randomBytes(size);
    const path = join(tmp.dir, name);
    writeFileSync(path, data);
    return { path, data };
  }

  it('flashes an image byte for byte, with line progress when stderr is not a terminal', async () => {
    const { pair, boot, outDir } = await device('ok');
    const fw = image('fw-1.2.0.bin', 70_000 + 77);
    const r = await yulan(['flash', '--port', pair.host, fw.path]);
    expect(r.stderr).toContain('100%');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`flashed fw-1.2.0.bin (${fw.data.length} bytes)`);
    expect(r.stderr).toMatch(/flash fw-1\.2\.0\.bin: .*KiB\/s/);
    expect(boot.flashed).toHaveLength(1);
    expect(readFileSync(join(outDir, 'fw-1.2.0.bin')).equals(fw.data)).toBe(true);
  });

  it('resends blocks the bootloader refuses (injected corruption) and still flashes exactly', async () => {
    const { pair, boot } = await device('nak', { faults: { corruptBlocks: [1, 2, 5] } });
    const fw = image('fw-nak.bin', 6000);
    const r = await yulan(['flash', '--port', pair.host, fw.path]);
    expect(r.code).toBe(0);
    expect(Buffer.from(boot.flashed[0]!.data).equals(fw.data)).toBe(true);
  });

  it('succeeds with a note when the end-of-batch ACK never comes (the file itself was acknowledged)', async () => {
    const { pair, boot } = await device('no-end-ack', { faults: { dropBatchEndAck: true } });
    const fw = image('fw-end.bin', 3000);
    const r = await yulan(['flash', '--port', pair.host, fw.path]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('did not acknowledge the end of the batch');
    expect(boot.flashed).toHaveLength(1);
    expect(Buffer.from(boot.flashed[0]!.data).equals(fw.data)).toBe(true);
  });

  it('times out with exit 3 when the bootloader never asks', async () => {
    const { pair } = await device('silent', { silent: true });
    const fw = image('fw-silent.bin', 100);
    const r = await yulan(['flash', '--port', pair.host, '--timeout', '1', fw.path]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no answer from the receiver within 1 s.*E_YMODEM_TIMEOUT/s);
  });

  it('stops with exit 5 when the device cancels (CAN CAN)', async () => {
    const { pair } = await device('cancel', { faults: { cancelAtBlock: 2 } });
    const fw = image('fw-cancel.bin', 5000);
    const r = await yulan(['flash', '--port', pair.host, fw.path]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('E_YMODEM_CANCELLED');
  });

  it('reports usage errors (exit 2) and an unopenable port (exit 6)', async () => {
    const fw = image('fw-x.bin', 10);
    const noPort = await yulan(['flash', fw.path]);
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toContain('--port is required');
    const badPort = await yulan(['flash', '--port', join(tmp.dir, 'no-such-tty'), fw.path]);
    expect(badPort.code).toBe(6);
    expect(badPort.stderr).toContain('E_SERIAL_OPEN');
  });
});
