#!/usr/bin/env node
// Dependency audit (SECURITY.md, "Monitoring vulnerabilities"; ETSI EN 303 645 5.2-2/5.2-3):
// `npm audit` over the production dependencies, summarised one line per vulnerable package.
//
//   npm run audit               exit 0: none known; 1: vulnerable packages listed; 2: the
//                               audit could not run (registry without the advisory
//                               endpoint, offline, unreadable answer) — said plainly
//   node .ci/audit.mjs --report the same output, always exit 0 (CI: see .ci/run)
//
// `npm` is taken from PATH (tests put a stand-in there).
import { spawnSync } from 'node:child_process';

const report = process.argv.includes('--report');
const SEVERITIES = ['critical', 'high', 'moderate', 'low', 'info'];

function finish(code) {
  process.exit(report ? 0 : code);
}

// Bounded: a registry that never answers must not hold CI up.
const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
if (run.error) {
  console.log(`dependency audit could not run: ${run.error.message}`);
  finish(2);
}
let doc;
try {
  doc = JSON.parse(run.stdout);
} catch {
  const why = (run.stderr || run.stdout || '').trim().split('\n').find((l) => l.trim() !== '') ?? `npm exited ${run.status}`;
  console.log(`dependency audit could not run: npm audit gave no readable answer (${why.slice(0, 200)})`);
  finish(2);
}
// npm answers an unreachable or unsupported advisory endpoint with an error document
// (e.g. a registry mirror answering 405 to the bulk advisory request) and no vulnerabilities.
if (doc === null || typeof doc !== 'object' || doc.vulnerabilities === undefined) {
  const why = typeof doc?.message === 'string' ? doc.message : typeof doc?.error?.summary === 'string' && doc.error.summary !== '' ? doc.error.summary : 'no vulnerability report in the answer';
  console.log(`dependency audit could not run: ${why.slice(0, 300)}`);
  console.log('(the registry in use may not offer the advisory endpoint; run `npm run audit` where the public npm registry is reachable)');
  finish(2);
}

const rows = Object.values(doc.vulnerabilities)
  .map((v) => ({
    name: String(v.name),
    severity: String(v.severity),
    range: String(v.range ?? ''),
    via: (Array.isArray(v.via) ? v.via : []).map((x) => (typeof x === 'string' ? x : `${x.title ?? x.source ?? '?'}${x.url ? ` (${x.url})` : ''}`)),
    fix: v.fixAvailable === true ? 'fix: npm audit fix' : v.fixAvailable && typeof v.fixAvailable === 'object' ? `fix: ${v.fixAvailable.name}@${v.fixAvailable.version}${v.fixAvailable.isSemVerMajor ? ' (major)' : ''}` : 'no fix yet',
  }))
  .sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || a.name.localeCompare(b.name));
const deps = doc.metadata?.dependencies?.prod ?? doc.metadata?.dependencies?.total ?? '?';
if (rows.length === 0) {
  console.log(`dependency audit: no known vulnerability in ${deps} production dependencies`);
  finish(0);
}
console.log(`dependency audit: ${rows.length} vulnerable production package(s)`);
for (const r of rows) console.log(`  ${r.severity.padEnd(8)} ${r.name} ${r.range} — ${r.via.join('; ')} — ${r.fix}`);
console.log('Triage within 10 working days (SECURITY.md, "Monitoring vulnerabilities").');
finish(1);
