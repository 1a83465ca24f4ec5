import { crc16Xmodem } from './ymodem-receiver.js';

/**
 * The bootloader's provisioning console: a line protocol on the same serial port as
 * YMODEM (text lines can never start a YMODEM frame, whose first byte is SOH/STX/EOT).
 *
 *   HELLO                 → OK yulan-boot/1
 *   SET id|secret|broker=V → OK <key> crc=XXXX   (CRC-16/XMODEM of V as received, so the
 *                                                 host can prove the value arrived intact)
 *   GET id|broker|secret  → OK <key>=V           (secret is never echoed: "set" / "unset")
 *   SET claim=V / GET claim                       optional: a claim id (provisioning by claim,
 *                                                 docs/security.md); id is then the serial and
 *                                                 secret the claim's secret
 *   COMMIT                → OK committed | ERR <reason>
 *
 * Anything else → ERR <reason>. Lines end with \n (a \r before it is ignored).
 */
export interface DeviceConfig { id: string; secret: string; broker: string; claim?: string }

export const CONSOLE_KEYS = ['id', 'secret', 'broker'] as const;
const OPTIONAL_KEYS = ['claim'] as const;
type Key = (typeof CONSOLE_KEYS)[number] | (typeof OPTIONAL_KEYS)[number];
const ALL_KEYS: readonly string[] = [...CONSOLE_KEYS, ...OPTIONAL_KEYS];
const CLAIM_ID = /^[a-z0-9][a-z0-9_-]{0,47}$/;

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function valueCrc(value: string): string {
  return crc16Xmodem(new TextEncoder().encode(value)).toString(16).toUpperCase().padStart(4, '0');
}

export interface ConsoleOptions {
  /** Called on COMMIT with a complete, valid configuration (the "flash write"). */
  commit(config: DeviceConfig): Promise<void> | void;
  /** Test hook: refuse COMMIT with this reason. */
  rejectCommit?: string;
  /** Test hook: report a wrong CRC for SET (as if the line garbled the value). */
  garbleSet?: boolean;
}

export class ProvisioningConsole {
  private readonly pending: Partial<Record<Key, string>> = {};
  private line = '';

  constructor(private readonly opts: ConsoleOptions) {}

  /** Feeds text bytes; returns the reply lines for every complete command line. */
  async feed(text: string): Promise<string[]> {
    const replies: string[] = [];
    for (const ch of text) {
      if (ch === '\n') {
        const cmd = this.line.replace(/\r$/, '').trim();
        this.line = '';
        if (cmd) replies.push(await this.handle(cmd));
      } else if (this.line.length < 4096) {
        this.line += ch;
      }
    }
    return replies;
  }

  private async handle(cmd: string): Promise<string> {
    const [verb = '', ...rest] = cmd.split(' ');
    const arg = rest.join(' ');
    switch (verb.toUpperCase()) {
      case 'HELLO':
        return 'OK yulan-boot/1';
      case 'SET': {
        const eq = arg.indexOf('=');
        const key = arg.slice(0, eq) as Key;
        const value = arg.slice(eq + 1);
        if (eq < 0 || !ALL_KEYS.includes(key)) return `ERR unknown setting "${arg.slice(0, eq < 0 ? undefined : eq)}"`;
        const problem = validate(key, value);
        if (problem) return `ERR ${problem}`;
        this.pending[key] = value;
        return `OK ${key} crc=${valueCrc(this.opts.garbleSet ? `${value}~` : value)}`;
      }
      case 'GET': {
        if (!ALL_KEYS.includes(arg)) return `ERR unknown setting "${arg}"`;
        const v = this.pending[arg as Key];
        if (arg === 'secret') return `OK secret=${v ? 'set' : 'unset'}`;
        return `OK ${arg}=${v ?? ''}`;
      }
      case 'COMMIT': {
        const missing = CONSOLE_KEYS.filter((k) => !this.pending[k]);
        if (missing.length > 0) return `ERR missing ${missing.join(',')}`;
        if (this.opts.rejectCommit) return `ERR ${this.opts.rejectCommit}`;
        try {
          await this.opts.commit({ id: this.pending.id!, secret: this.pending.secret!, broker: this.pending.broker!, ...(this.pending.claim ? { claim: this.pending.claim } : {}) });
        } catch (err) {
          return `ERR write failed: ${(err as Error).message}`;
        }
        return 'OK committed';
      }
      default:
        return `ERR unknown command "${verb}"`;
    }
  }
}

function validate(key: Key, value: string): string | undefined {
  if (key === 'id') return ID.test(value) ? undefined : 'invalid id';
  if (key === 'claim') return CLAIM_ID.test(value) ? undefined : 'invalid claim id';
  if (key === 'secret') return value.length >= 16 && !/\s/.test(value) ? undefined : 'invalid secret';
  try {
    const url = new URL(value);
    return ['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol) ? undefined : 'broker must be an mqtt(s):// or ws(s):// URL';
  } catch {
    return 'invalid broker URL';
  }
}
