import type { FastifyRequest } from 'fastify';
import { bearer } from '../../plugins/admin-auth.js';
import type { SessionEnd, SessionHandle, SessionWatch } from '../contracts.js';
import { readCookie, SESSION_COOKIE } from './session-cookie.js';
import type { UserStore } from './stores.js';
import { sessionDigest, type SessionEnded } from './user-store.js';

type Listener = (reason: SessionEnd) => void;

/**
 * Hands out watchable sessions (docs/care.md §5: a live stream lives no longer than the
 * session it was opened with). Listens to the user store, where every way a session ends
 * passes: logout, expiry, disabling, deleting, a new password or role.
 */
export class SessionWatcher implements SessionWatch {
  private readonly byDigest = new Map<string, Set<Listener>>();
  private readonly byUser = new Map<string, Set<string>>();

  constructor(private readonly users: UserStore) {
    users.onSessionEnded((e) => this.ended(e));
  }

  async sessionOf(request: FastifyRequest): Promise<SessionHandle | undefined> {
    // The same precedence as `authenticate`: a bearer token, else the cookie.
    const token = bearer(request) ?? readCookie(request, SESSION_COOKIE);
    if (token === undefined) return undefined;
    const digest = sessionDigest(token);
    const userId = await this.users.liveSessionUser(digest);
    if (userId === undefined) return undefined;
    return {
      userId,
      active: async () => (await this.users.liveSessionUser(digest)) === userId,
      onEnd: (listener) => this.watch(digest, userId, listener),
    };
  }

  private watch(digest: string, userId: string, listener: Listener): () => void {
    let set = this.byDigest.get(digest);
    if (!set) this.byDigest.set(digest, (set = new Set()));
    set.add(listener);
    let digests = this.byUser.get(userId);
    if (!digests) this.byUser.set(userId, (digests = new Set()));
    digests.add(digest);
    return () => {
      set.delete(listener);
      if (set.size > 0 || this.byDigest.get(digest) !== set) return;
      this.byDigest.delete(digest);
      digests.delete(digest);
      if (digests.size === 0 && this.byUser.get(userId) === digests) this.byUser.delete(userId);
    };
  }

  private ended(e: SessionEnded): void {
    const digests = e.digest !== undefined ? [e.digest] : [...(this.byUser.get(e.userId ?? '') ?? [])];
    for (const d of digests) {
      const listeners = this.byDigest.get(d);
      this.byDigest.delete(d);
      for (const l of listeners ?? []) l(e.reason);
    }
    if (e.userId !== undefined) this.byUser.delete(e.userId);
    else for (const [u, ds] of this.byUser) if (ds.delete(e.digest ?? '') && ds.size === 0) this.byUser.delete(u);
  }
}
