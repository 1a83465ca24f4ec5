import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Bootloader, openSerialLink, type BootloaderOptions } from '../../device-sims/src/bootloader/index.js';
import { ptyPair, runInProcess, socatAvailable, yulan, type PtyPair } from './serial-support.js';
import { tempDir } from './support.js';

const SECRET = 'sk_0123456789abcdef0123456789abcdef';

describe.skipIf(!socatAvailable())('yulan provision over a serial line', () => {
  const tmp = tempDir('yulan-prov-');
  const open: { pair: PtyPair; boot?: Bootloader }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) { await o.boot?.close(); await o.pair.close(); }
  });
  afterAll(() => tmp.cleanup());

  async function device(name: string, opts: Partial<BootloaderOptions> = {}): Promise<{ pair: PtyPair; boot: Bootloader; outDir: string }> {
    const pair = await ptyPair(tmp.dir, name);
    const entry: { pair: PtyPair; boot?: Bootloader } = { pair };
    open.push(entry);
    const outDir = join(tmp.dir, `${name}-out`);
    // Polling 'C' fast makes sure the console copes with YMODEM polls on the same line.
    entry.boot = new Bootloader(await openSerialLink(pair.device), { outDir, pollMs: 100, ...opts });
    return { pair, boot: entry.boot, outDir };
  }

  it('writes id, secret and broker, verified by CRC, and commits', async () => {
    const { pair, boot, outDir } = await device('ok');
    const r = await yulan(['provision', '--port', pair.host, '--device', 'ev-7', '--broker', 'mqtts://broker.example:8883'], { YULAN_DEVICE_SECRET: SECRET });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('provisioned ev-7');
    expect(boot.configs).toEqual([{ id: 'ev-7', secret: SECRET, broker: 'mqtts://broker.example:8883' }]);
    expect(JSON.parse(readFileSync(join(outDir, 'device.json'), 'utf8'))).toEqual(boot.configs[0]);
  });

  it('writes a claim instead of a final secret: the serial as id, the claim id and the claim secret', async () => {
    const { pair, boot, outDir } = await device('claim');
    const claimSecret = 'claim_0123456789abcdef0123456789abcdef';
    const r = await yulan(['provision', '--port', pair.host, '--device', 'SN-0042', '--claim', 'lockers-2026-03', '--broker', 'mqtts://broker.example:8883'], { YULAN_CLAIM_SECRET: claimSecret });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('provisioned SN-0042');
    expect(r.stdout).toContain('claim lockers-2026-03');
    expect(boot.configs).toEqual([{ id: 'SN-0042', secret: claimSecret, broker: 'mqtts://broker.example:8883', claim: 'lockers-2026-03' }]);
    expect(JSON.parse(readFileSync(join(outDir, 'device.json'), 'utf8'))).toEqual(boot.configs[0]);
    // a claim and a final secret at once, or a claim without its secret: usage errors, nothing written
    const both = await yulan(['provision', '--port', pair.host, '--device', 'SN-0043', '--claim', 'lockers-2026-03', '--secret', SECRET, '--broker', 'mqtt://b:1883'], { YULAN_CLAIM_SECRET: claimSecret });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/no --secret or --register/);
    const none = await yulan(['provision', '--port', pair.host, '--device', 'SN-0043', '--claim', 'lockers-2026-03', '--broker', 'mqtt://b:1883']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--claim needs --claim-secret/);
    expect(boot.configs).toHaveLength(1);
  });

  it('fails with exit 7 (the device failed) when a value arrives garbled (CRC mismatch) or the device refuses', async () => {
    const garbled = await device('garble', { garbleSet: true });
    const g = await yulan(['provision', '--port', garbled.pair.host, '--device', 'ev-8', '--secret', SECRET, '--broker', 'mqtt://b:1883']);
    expect(g.code).toBe(7);
    expect(g.stderr).toContain('E_PROVISION_VERIFY');
    expect(garbled.boot.configs).toEqual([]);

    const full = await device('full', { rejectCommit: 'flash full' });
    const f = await yulan(['provision', '--port', full.pair.host, '--device', 'ev-9', '--secret', SECRET, '--broker', 'mqtt://b:1883']);
    expect(f.code).toBe(7);
    expect(f.stderr).toMatch(/refused COMMIT: flash full.*E_PROVISION_REFUSED/);

    const bad = await device('bad');
    const b = await yulan(['provision', '--port', bad.pair.host, '--device', 'ev-9', '--secret', 'short', '--broker', 'mqtt://b:1883']);
    expect(b.code).toBe(7);
    expect(b.stderr).toContain('refused secret: invalid secret');
  });

  it('times out with exit 3 on a silent line', async () => {
    const { pair } = await device('silent', { silent: true });
    const r = await yulan(['provision', '--port', pair.host, '--device', 'ev-1', '--secret', SECRET, '--broker', 'mqtt://b:1883']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('E_PROVISION_TIMEOUT');
  });

});

describe('yulan provision arguments', () => {
  it('explains missing or conflicting flags (exit 2)', async () => {
    const none = await runInProcess(['provision', '--port', '/dev/null', '--device', 'ev-1', '--broker', 'mqtt://b']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--secret (or YULAN_DEVICE_SECRET) or --register is required');
    const both = await runInProcess(['provision', '--port', '/dev/null', '--device', 'ev-1', '--broker', 'mqtt://b', '--secret', SECRET, '--register']);
    expect(both.stderr).toContain('either --secret or --register');
    const reg = await runInProcess(['provision', '--port', '/dev/null', '--device', 'ev-1', '--broker', 'mqtt://b', '--register']);
    expect(reg.stderr).toContain('--register needs --site and --kind');
  });
});
