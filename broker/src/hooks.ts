import { createAuthHooks } from './auth-hooks.js';
import { createHookState, type BrokerHooks, type HookContext } from './hook-context.js';
import { createPublishHooks } from './publish-hooks.js';

// The Aedes hooks, composed: the connect hooks (auth-hooks.ts, authenticators.ts) build
// each client's session, the per-message hooks (publish-hooks.ts) only read it. The types
// they share are in hook-context.ts.

export function createHooks(ctx: HookContext): BrokerHooks {
  const state = createHookState();
  const { sessions, order } = state;
  return {
    sessionOf: (client) => sessions.get(client),
    connectionOpened: (stream) => order.opened(stream),
    sessionEnded(client) {
      const s = sessions.get(client);
      if (s && client.id) order.ended(client.id, s.connectSeq);
    },
    ...createAuthHooks(ctx, state),
    ...createPublishHooks(ctx, sessions),
  };
}
