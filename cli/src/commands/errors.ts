/** Exit codes of the engineer's commands, so scripts can tell failures apart. */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Timeout: 3,
  /** The other side refused: too many NAKs, ERR from the device, 4xx from the API. */
  Refused: 4,
  Cancelled: 5,
  /** Serial port or network I/O failed. */
  Io: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode: ExitCode = ExitCode.Failure, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function usageError(message: string, usage?: string): CliError {
  return new CliError('E_USAGE', usage ? `${message}\n\n${usage}` : message, ExitCode.Usage);
}
