import type { PostgresDatabase } from './postgres.js';

/**
 * Where a cloud store keeps its data: its own SQLite file in the data directory (the
 * embedded default, one cloud process), or its schema in the shared PostgreSQL database
 * (`YULAN_DATABASE_URL`: several cloud processes, `pg_dump` backups). Every store takes
 * one and has both implementations behind one async interface, each run through the same
 * contract suite (`cloud/test/*-contract.test.ts`).
 */
export type DbTarget =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; db: PostgresDatabase };
