import { api } from './api.js';

/** JSON Schema as the cloud's catalogue serves it (TypeBox objects). */
export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  minimum?: number;
  maximum?: number;
  anyOf?: { const?: string | number | boolean }[];
  const?: string | number | boolean;
  description?: string;
  /** a command the platform sends (campaigns, the site power cap), not offered by hand */
  'x-sent-by'?: string;
}
export interface Catalog { commands: Record<string, Record<string, Schema>>; settings: Record<string, Schema> }

let cached: Promise<Catalog> | undefined;
/** GET /api/v1/catalog once per page: the commands and twin settings per kind. */
export function catalog(): Promise<Catalog> {
  cached ??= api<Catalog>('GET', '/api/v1/catalog').catch((e: unknown) => {
    cached = undefined;
    throw e;
  });
  return cached;
}
