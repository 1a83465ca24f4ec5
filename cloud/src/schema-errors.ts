import type { FastifySchemaValidationError } from 'fastify';

/**
 * Fastify's schemaErrorFormatter: one readable sentence per problem. An enum written as a
 * union of literals (kind slugs, statuses) made Ajv report one "must be equal to constant"
 * per member plus "must match a schema in anyOf"; that becomes "must be one of a, b, c".
 */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const byPath = new Map<string, FastifySchemaValidationError[]>();
  for (const e of errors) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const parts: string[] = [];
  for (const [path, errs] of byPath) {
    const allowed = errs.filter((e) => e.keyword === 'const').map((e) => (e.params as { allowedValue?: unknown }).allowedValue);
    const onlyEnum = allowed.length > 0 && errs.every((e) => e.keyword === 'const' || e.keyword === 'anyOf');
    if (onlyEnum) parts.push(`${dataVar}${path} must be one of ${allowed.map(String).join(', ')}`);
    else for (const e of errs) parts.push(`${dataVar}${path} ${e.message ?? 'is invalid'}`);
  }
  return new Error(parts.join(', '));
}
