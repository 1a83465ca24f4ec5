import { cpus, totalmem, type as osType, release } from 'node:os';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  peers: Record<string, string>;
}

function versionOf(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

export function describeMachine(): Machine {
  const peers: Record<string, string> = {};
  const influx = versionOf('influxd', ['version']);
  if (influx) peers.influxd = influx;
  const mosq = versionOf('mosquitto', ['-h']);
  if (mosq) peers.mosquitto = mosq;
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${osType()} ${release()}`,
    node: process.version,
    peers,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...cells.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
}

/** Writes the run's JSON under bench-results/ and replaces the scenario's section of
 * BENCHMARKS.md (between markers), keeping the other scenarios' sections. */
export function publish(scenario: string, markdown: string, json: unknown): string {
  const dir = join(REPO_ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const jsonFile = join(dir, `${scenario}-${stamp}.json`);
  writeFileSync(jsonFile, JSON.stringify(json, null, 2));
  const file = join(REPO_ROOT, 'BENCHMARKS.md');
  const start = `<!-- bench:${scenario}:start -->`;
  const end = `<!-- bench:${scenario}:end -->`;
  const section = `${start}\n${markdown.trim()}\n${end}`;
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nFigures written by `npm run bench …`; each section is replaced by the next run of its scenario.\n';
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  doc = a >= 0 && b > a ? doc.slice(0, a) + section + doc.slice(b + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, doc);
  return jsonFile;
}

export function machineMarkdown(m: Machine, date = new Date()): string {
  const peers = Object.entries(m.peers).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; peers: ${peers}. Run ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC.`;
}
