import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * The SQLite files in a cloud's data directory (two levels deep: firmware keeps its own
 * folder). With YULAN_DATABASE_URL set every store belongs in PostgreSQL; a file found here
 * is a store this release still keeps in SQLite — not shared with the other clouds — or one
 * left from before the move, and start.ts says so instead of staying silent.
 */
export function sqliteFilesIn(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory() && depth > 0) walk(join(dir, e.name), depth - 1);
      else if (e.isFile() && e.name.endsWith('.sqlite')) found.push(relative(dataDir, join(dir, e.name)));
    }
  };
  walk(dataDir, 1);
  return found.sort();
}

/** The database a cloud uses, for its log: host, port and name, never the password. */
export function databaseLabel(url: string): string {
  try {
    const u = new URL(url);
    return `postgresql://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgresql';
  }
}
