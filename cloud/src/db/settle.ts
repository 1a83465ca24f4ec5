/**
 * A SQLite store's synchronous call as the promise its async interface promises: the
 * better-sqlite3 work (and any transaction in it) runs to its end before this returns, so
 * no transaction ever spans an await; a thrown error becomes a rejection.
 */
export function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}
