import { describe, expect, it } from 'vitest';
import { parseOcppSimArgs, SimErrorCode, type SimError } from '../src/index.js';

const base = ['--kind', 'ev-charger', '--protocol', 'ocpp'];

describe('parseOcppSimArgs: firmware options', () => {
  it('takes --data-dir and --firmware-fault download|install', () => {
    expect(parseOcppSimArgs([...base, '--data-dir', '/tmp/flash', '--firmware-fault', 'install'], {})).toMatchObject({ dataDir: '/tmp/flash', firmwareFault: 'install' });
    expect(parseOcppSimArgs([...base, '--firmware-fault', 'download'], {}).firmwareFault).toBe('download');
    const plain = parseOcppSimArgs(base, {});
    expect(plain.firmwareFault).toBeUndefined();
    expect(plain.dataDir).toBeUndefined();
  });

  it('refuses an unknown fault with a clear error', () => {
    let err: SimError | undefined;
    try { parseOcppSimArgs([...base, '--firmware-fault', 'reboot'], {}); } catch (e) { err = e as SimError; }
    expect(err?.code).toBe(SimErrorCode.BadArgs);
    expect(err?.message).toMatch(/--firmware-fault expects download or install/);
  });
});
