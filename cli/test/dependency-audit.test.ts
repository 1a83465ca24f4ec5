import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `npm run audit` (.ci/audit.mjs, SECURITY.md "Monitoring vulnerabilities"): run with a
 * stand-in `npm` on PATH answering what npm audit answers — a clean report, vulnerable
 * packages, a registry without the advisory endpoint, garbage — and checked for its
 * summary and exit code, with and without --report (what CI runs).
 */
const script = resolve(__dirname, '../../.ci/audit.mjs');
const bin = mkdtempSync(join(tmpdir(), 'yulan-fake-npm-'));
writeFileSync(join(bin, 'npm'), '#!/bin/sh\ncat "$FAKE_AUDIT_FILE"\nexit "${FAKE_AUDIT_RC:-0}"\n');
chmodSync(join(bin, 'npm'), 0o755);
afterAll(() => rmSync(bin, { recursive: true, force: true }));

function audit(answer: unknown, rc: number, args: string[] = []): { code: number | null; out: string } {
  const file = join(bin, `answer-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(file, typeof answer === 'string' ? answer : JSON.stringify(answer));
  const r = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, FAKE_AUDIT_FILE: file, FAKE_AUDIT_RC: String(rc) },
  });
  return { code: r.status, out: r.stdout };
}

const vulnerable = {
  vulnerabilities: {
    'fast-json': { name: 'fast-json', severity: 'moderate', range: '<2.1.0', via: [{ title: 'Prototype pollution', url: 'https://example.org/GHSA-1' }], fixAvailable: true },
    'tiny-tar': { name: 'tiny-tar', severity: 'critical', range: '<=1.0.3', via: [{ title: 'Path traversal' }], fixAvailable: { name: 'tiny-tar', version: '2.0.0', isSemVerMajor: true } },
    wrapper: { name: 'wrapper', severity: 'high', range: '*', via: ['tiny-tar'], fixAvailable: false },
  },
  metadata: { dependencies: { prod: 120 } },
};

describe('dependency audit', () => {
  it('a clean report: exit 0, says how many production dependencies were checked', () => {
    const r = audit({ vulnerabilities: {}, metadata: { dependencies: { prod: 120 } } }, 0);
    expect(r).toEqual({ code: 0, out: 'dependency audit: no known vulnerability in 120 production dependencies\n' });
  });

  it('vulnerable packages: one line each, most severe first, with the fix; exit 1, or 0 with --report', () => {
    const r = audit(vulnerable, 1);
    expect(r.code).toBe(1);
    expect(r.out.split('\n').slice(0, 4)).toEqual([
      'dependency audit: 3 vulnerable production package(s)',
      '  critical tiny-tar <=1.0.3 — Path traversal — fix: tiny-tar@2.0.0 (major)',
      '  high     wrapper * — tiny-tar — no fix yet',
      '  moderate fast-json <2.1.0 — Prototype pollution (https://example.org/GHSA-1) — fix: npm audit fix',
    ]);
    expect(audit(vulnerable, 1, ['--report']).code).toBe(0);
  });

  it('a registry without the advisory endpoint, or an unreadable answer: said plainly, exit 2, or 0 with --report', () => {
    const unsupported = { message: '405 Method Not Allowed - POST /-/npm/v1/security/advisories/bulk', statusCode: 405, error: { summary: '', detail: '' } };
    const r = audit(unsupported, 1);
    expect(r.code).toBe(2);
    expect(r.out).toContain('dependency audit could not run: 405 Method Not Allowed');
    expect(audit(unsupported, 1, ['--report']).code).toBe(0);
    const garbage = audit('npm ERR! network unreachable', 1);
    expect(garbage.code).toBe(2);
    expect(garbage.out).toContain('npm audit gave no readable answer (npm ERR! network unreachable)');
  });
});
