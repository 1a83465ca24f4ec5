import { CliError, ExitCode } from './commands/errors.js';
import type { SerialLine } from './serial.js';
import { crc16 } from './ymodem.js';

/**
 * The host side of the bootloader's provisioning console (device-sims/src/bootloader/
 * console.ts documents the device side): HELLO, SET key=value → OK key crc=XXXX (checked
 * against our own CRC of the value, so a garbled byte is caught before COMMIT), COMMIT.
 */
/** With `claim`, `id` is the device's serial and `secret` the claim's (docs/security.md). */
export interface DeviceSettings { id: string; secret: string; broker: string; claim?: string }

export const ProvisionErrorCode = {
  Timeout: 'E_PROVISION_TIMEOUT',
  Refused: 'E_PROVISION_REFUSED',
  Verify: 'E_PROVISION_VERIFY',
} as const;

export function valueCrc(value: string): string {
  return crc16(new TextEncoder().encode(value)).toString(16).toUpperCase().padStart(4, '0');
}

export class ConsoleClient {
  private text = '';
  private waiting: ((line: string) => void) | undefined;
  private readonly lines: string[] = [];

  constructor(private readonly line: SerialLine, private readonly timeoutMs = 3000) {
    line.onData((bytes) => this.onData(bytes));
  }

  /** Sends one command line and returns the device's OK/ERR reply. */
  async request(command: string, timeoutMs = this.timeoutMs): Promise<string> {
    this.lines.length = 0; // anything unread is stale (a reply to an earlier, timed-out try)
    await this.line.write(new TextEncoder().encode(`${command}\n`));
    const reply = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => { this.waiting = undefined; resolve(undefined); }, timeoutMs);
      this.waiting = (l) => { clearTimeout(timer); this.waiting = undefined; resolve(l); };
      this.flush();
    });
    if (reply === undefined) {
      throw new CliError(ProvisionErrorCode.Timeout, `no answer from the device to "${command.split(' ')[0]}" within ${timeoutMs / 1000} s (is it in its bootloader?)`, ExitCode.Timeout);
    }
    return reply;
  }

  private onData(bytes: Uint8Array): void {
    this.text += new TextDecoder().decode(bytes);
    let nl: number;
    while ((nl = this.text.indexOf('\n')) >= 0) {
      // A bootloader idling for YMODEM polls with 'C'; those bytes may precede a reply.
      const l = this.text.slice(0, nl).replace(/\r$/, '').replace(/^C+/, '');
      this.text = this.text.slice(nl + 1);
      if (/^(OK|ERR)\b/.test(l)) this.lines.push(l);
    }
    this.flush();
  }

  private flush(): void {
    if (this.waiting && this.lines.length > 0) this.waiting(this.lines.shift()!);
  }
}

function refused(step: string, reply: string): CliError {
  return new CliError(ProvisionErrorCode.Refused, `the device refused ${step}: ${reply.replace(/^ERR\s*/, '')}`, ExitCode.DeviceFailed);
}

/** Writes the settings and commits them; throws a CliError naming the failing step. */
export async function provisionOverSerial(client: ConsoleClient, settings: DeviceSettings): Promise<void> {
  let hello: string | undefined;
  // The first HELLO may be swallowed while the bootloader is between YMODEM polls.
  for (let attempt = 1; hello === undefined; attempt++) {
    try {
      hello = await client.request('HELLO', 1500);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  if (!hello.startsWith('OK yulan-boot/')) throw refused('HELLO', hello);
  for (const key of ['id', ...(settings.claim !== undefined ? ['claim' as const] : []), 'secret', 'broker'] as const) {
    const value = settings[key] as string;
    const expected = `OK ${key} crc=${valueCrc(value)}`;
    let reply = await client.request(`SET ${key}=${value}`);
    if (reply.startsWith('OK') && reply !== expected) reply = await client.request(`SET ${key}=${value}`); // one retry for a garbled line
    if (reply.startsWith('ERR')) throw refused(`${key}`, reply);
    if (reply !== expected) {
      throw new CliError(ProvisionErrorCode.Verify, `the device stored a different ${key} than was sent (CRC mismatch: "${reply}", expected crc=${valueCrc(value)}); check the line and try again`, ExitCode.DeviceFailed);
    }
  }
  const commit = await client.request('COMMIT', 10_000);
  if (commit !== 'OK committed') throw refused('COMMIT', commit);
}
