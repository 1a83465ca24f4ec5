/**
 * Exit codes of the engineer's commands, so scripts can tell failures apart. This table is
 * the one source: `yulan help` prints it, and README.md ("Exit codes") copies it.
 */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Timeout: 3,
  /** The request was refused: 4xx from the API (bad request, not found, conflict), or a
   * local refusal such as restoring into a data directory in use. */
  Refused: 4,
  Cancelled: 5,
  /** Serial port or network I/O failed. */
  Io: 6,
  /** The device said no: a command failed or was rejected on the device, ERR over the
   * serial console, too many NAKs while flashing. */
  DeviceFailed: 7,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES: readonly { code: ExitCode; meaning: string }[] = [
  { code: ExitCode.Ok, meaning: 'done (with --wait: the command succeeded)' },
  { code: ExitCode.Failure, meaning: 'unexpected failure (a 5xx from the cloud, an unreadable file)' },
  { code: ExitCode.Usage, meaning: 'bad arguments or missing settings (nothing was sent)' },
  { code: ExitCode.Timeout, meaning: 'timed out: the command timed out or expired, the device did not answer' },
  { code: ExitCode.Refused, meaning: 'the request was refused: bad request, unknown device or site, conflict (HTTP 4xx)' },
  { code: ExitCode.Cancelled, meaning: 'cancelled by the device (YMODEM CAN)' },
  { code: ExitCode.Io, meaning: 'cannot reach the cloud or the broker, or the serial port failed' },
  { code: ExitCode.DeviceFailed, meaning: 'the device failed or refused: command failed, ERR on the console, too many NAKs' },
];

/** The exit-code table as `yulan help` shows it. */
export function exitCodeHelp(): string {
  return `Exit codes:\n${EXIT_CODES.map((e) => `  ${e.code}  ${e.meaning}`).join('\n')}`;
}

export class CliError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode: ExitCode = ExitCode.Failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function usageError(message: string, usage?: string): CliError {
  return new CliError('E_USAGE', usage ? `${message}\n\n${usage}` : message, ExitCode.Usage);
}
