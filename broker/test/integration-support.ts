import type { IntegrationAccount } from '@yulan/protos';
import type { IntegrationAuthenticator, IntegrationAuthResult } from '../src/integration-auth.js';
import { BrokerError, BrokerErrorCode } from '../src/errors.js';

/** In-memory stand-in for the cloud's integration registry (the real endpoint is tested
 * in cli/test/integration-e2e.test.ts, through a real cloud). */
export class FakeIntegrationAuth implements IntegrationAuthenticator {
  readonly accounts = new Map<string, { secret: string; account: IntegrationAccount; disabled?: boolean }>();
  readonly forgotten: string[] = [];
  unavailable = false;

  add(account: IntegrationAccount, secret = `secret-${account.name}`): void {
    this.accounts.set(account.name, { secret, account });
  }
  async authenticate(name: string, secret: string): Promise<IntegrationAuthResult> {
    if (this.unavailable) return { outcome: 'unavailable', error: new BrokerError(BrokerErrorCode.DeviceAuth, 'cloud down') };
    const a = this.accounts.get(name);
    if (!a || a.secret !== secret) return { outcome: 'denied', reason: 'bad-credentials' };
    if (a.disabled) return { outcome: 'denied', reason: 'disabled' };
    return { outcome: 'ok', account: a.account, source: 'cloud' };
  }
  forget(name: string): void {
    this.forgotten.push(name);
  }
}

/** An account allowed on every non-`$` topic: what the Paho interoperability tests need. */
export function openAccount(name: string): IntegrationAccount {
  return { name, rules: [{ filter: '#', read: true, write: true }], namespace: false, healthGrant: true };
}
