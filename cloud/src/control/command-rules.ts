import { CloudError, CloudErrorCode } from '../errors.js';

/** A reservation longer than this is more likely a typo (a year for a month) than intent. */
const MAX_RESERVATION_MS = 7 * 86_400_000;

/**
 * Rules on a command's arguments that the catalogue's schema cannot state (it checks each
 * argument alone, and knows no clock). Called after the schema check, with its strings.
 * @throws CloudError(E_VALIDATION) naming the argument.
 */
export function checkCommandRules(name: string, args: Readonly<Record<string, string>>, nowMs: number): void {
  if (name !== 'charger.reserve_now') return;
  const expiry = Date.parse(args.expiry ?? '');
  if (!Number.isFinite(expiry)) throw new CloudError(CloudErrorCode.Validation, `${name}: argument "expiry": not a date-time`);
  // A reservation that ended before it was asked for would be refused by the charger anyway,
  // with a less useful answer (or, on some chargers, accepted and dropped at once).
  if (expiry <= nowMs) throw new CloudError(CloudErrorCode.Validation, `${name}: argument "expiry": ${args.expiry} has passed`);
  if (expiry - nowMs > MAX_RESERVATION_MS) throw new CloudError(CloudErrorCode.Validation, `${name}: argument "expiry": at most 7 days ahead`);
}
