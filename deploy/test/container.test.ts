import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '@yulan/broker';
import { loadCloudConfig } from '@yulan/cloud';
import { loadEdgeConfig } from '@yulan/edge';
import { loadOcppGatewayConfig } from '@yulan/gateways';

// No container engine runs here (and no base image can be pulled), so the image
// definitions are checked without building: what they copy exists and is not ignored, what
// they run is a command the built CLI answers, their ports are the services' defaults, the
// health checks reach /healthz, they run as a user without rights and hold no secrets.
/** A child process's exit code and output, without blocking this process's event loop. */
function run(args: string[], env: Record<string, string | undefined>): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { encoding: 'utf8', env }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
const root = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(root, 'deploy/container/Dockerfile'), 'utf8');
const compose = readFileSync(join(root, 'deploy/container/compose.yaml'), 'utf8');
const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

interface Instr { op: string; args: string }
interface Stage { from: string; instrs: Instr[] }

function parse(text: string): { args: Map<string, string>; stages: Map<string, Stage> } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages = new Map<string, Stage>();
  let current: Stage | undefined;
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op === 'FROM') {
      const m = /^(\S+)\s+AS\s+(\S+)$/i.exec(rest);
      if (!m) throw new Error(`unnamed stage: ${line}`);
      current = { from: m[1]!, instrs: [] };
      stages.set(m[2]!, current);
    } else if (!current && op === 'ARG') {
      const [k, v] = rest.split('=');
      args.set(k!, v ?? '');
    } else current?.instrs.push({ op, args: rest });
  }
  return { args, stages };
}
const { args, stages } = parse(dockerfile);
const SERVICES = ['broker', 'edge', 'cloud', 'gateway-ocpp', 'gateway-serial'] as const;
const stage = (name: string): Stage => stages.get(name) ?? expect.fail(`no stage ${name}`);
const all = (name: string, op: string): Instr[] => {
  const s = stage(name);
  return [...(stages.has(s.from) ? all(s.from, op) : []), ...s.instrs.filter((i) => i.op === op)];
};
const last = (name: string, op: string): Instr | undefined => all(name, op).at(-1);
const exec = (i: Instr | undefined): string[] => JSON.parse(i?.args.replace(/^--\S+\s+/g, '') ?? 'null') as string[];
const envOf = (name: string): Record<string, string> => Object.fromEntries(all(name, 'ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));
const ignored = (path: string): boolean => ignore.some((p) => {
  const re = new RegExp(`^${p.replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`);
  return re.test(path);
});
// Secrets and their placeholders: the loaders need them to say what their defaults are.
const fake = { YULAN_TLS_CERT_FILE: '/x/c.pem', YULAN_TLS_KEY_FILE: '/x/k.pem', YULAN_CLOUD_URL: 'http://cloud:8080', YULAN_BROKER_TOKEN: 't'.repeat(32), YULAN_BROKER_ACCOUNTS_FILE: '/x/a.json', YULAN_EDGE_MQTT_PASSWORD: 'p', YULAN_EDGE_TOKEN: 't'.repeat(32), YULAN_CLOUD_MQTT_PASSWORD: 'p', YULAN_GATEWAY_TOKEN: 'g'.repeat(32) };

describe('container image definitions (deploy/container)', () => {
  it('builds in stages: npm ci, build, prune dev dependencies, then one runtime every service target starts from', () => {
    expect([...stages.keys()].sort()).toEqual(['broker', 'build', 'cloud', 'edge', 'gateway-ocpp', 'gateway-serial', 'runtime'].sort());
    expect(stage('build').from).toBe('${NODE_IMAGE}');
    expect(stage('runtime').from).toBe('${NODE_IMAGE}');
    for (const s of SERVICES) expect(stage(s).from).toBe('runtime');
    // The Node the image brings meets package.json's engines.
    const engines = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(Number(/^node:(\d+)/.exec(args.get('NODE_IMAGE')!)![1])).toBeGreaterThanOrEqual(Number(/(\d+)/.exec(engines)![1]));
    const runs = all('build', 'RUN').map((i) => i.args).join('\n');
    const at = (s: string): number => { const n = runs.indexOf(s); expect(n, s).toBeGreaterThanOrEqual(0); return n; };
    expect(at('npm ci')).toBeLessThan(at('npm run build'));
    expect(at('npm run build')).toBeLessThan(at('npm prune --omit=dev'));
    // The runtime takes only the build's result, from the build's work dir.
    const workdir = all('build', 'WORKDIR')[0]!.args;
    expect(all('runtime', 'COPY').map((c) => c.args)).toEqual([`--from=build --chown=root:root ${workdir} ${workdir}`]);
  });

  it('copies only what exists in the repository and is not left out of the build context, every workspace first by its manifest', () => {
    const copies = all('build', 'COPY').map((c) => c.args.split(/\s+/).filter((a) => !a.startsWith('--')));
    const sources = copies.flatMap((c) => c.slice(0, -1));
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(ignored(s), `${s} is not in .dockerignore`).toBe(false);
    }
    const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    const npmCi = all('build', 'RUN').findIndex((r) => r.args.includes('npm ci'));
    const before = stage('build').instrs.slice(0, stage('build').instrs.findIndex((i) => i.op === 'RUN' && i.args.includes('npm ci')));
    expect(npmCi).toBeGreaterThanOrEqual(0);
    for (const w of workspaces) {
      expect(before.some((i) => i.op === 'COPY' && i.args.startsWith(`${w}/package.json `)), `${w}/package.json before npm ci`).toBe(true);
      expect(sources, `${w} copied`).toContain(w);
    }
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.base.json', 'tsconfig.json']) expect(sources).toContain(f);
  });

  it('keeps data, local settings, secrets and host builds out of the build context', () => {
    for (const p of ['.yulan', 'node_modules', 'cli/node_modules', 'cli/dist', '.git', 'deploy/broker.env', 'x/secrets.json', '.env', 'tls/server-key.pem', 'cloud/people.sqlite']) {
      expect(ignored(p), p).toBe(true);
    }
    for (const i of [...stages.values()].flatMap((s) => s.instrs.filter((x) => x.op === 'ENV' || x.op === 'ARG'))) {
      expect(i.args, 'no secret in ENV/ARG').not.toMatch(/PASSWORD|TOKEN|SECRET|_KEY\b|KEYS/i);
    }
  });

  it('runs as a user without rights, with the data folder a 0700 volume it owns, and logs JSON', () => {
    const user = last('runtime', 'USER')!.args;
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const uid = user.split(':')[0]!;
    const run = all('runtime', 'RUN').map((r) => r.args).join('\n');
    expect(run).toContain(`--uid ${uid}`);
    const env = envOf('runtime');
    expect(env.YULAN_LOG_FORMAT).toBe('json');
    expect(run).toContain(`install -d -m 0700 -o yulan -g yulan ${env.YULAN_DATA_DIR}`);
    expect(last('runtime', 'VOLUME')!.args).toBe(`["${env.YULAN_DATA_DIR}"]`);
    for (const s of SERVICES) expect(last(s, 'USER')!.args, `${s} user`).toBe(user);
    // Every YULAN_* the images set is a documented setting.
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const s of SERVICES) for (const k of Object.keys(envOf(s)).filter((k) => k.startsWith('YULAN_'))) expect(readme, k).toContain(k);
  });

  // Loading the whole CLI takes seconds on a busy machine: five of them at once.
  it('starts each service through the built CLI, which knows each command', { timeout: 240_000 }, async () => {
    const entry = exec(last('runtime', 'ENTRYPOINT'));
    expect(entry[0]).toBe('node');
    const workdir = all('build', 'WORKDIR')[0]!.args;
    const script = entry[1]!.replace(`${workdir}/`, '');
    expect(statSync(join(root, script)).isFile()).toBe(true);
    expect(readFileSync(join(root, script), 'utf8')).toContain("from '../dist/main.js'");
    await Promise.all(SERVICES.map(async (s) => {
      const cmd = exec(last(s, 'CMD'));
      // --help answers without starting anything; an unknown command would exit 2.
      const r = await run([join(root, script), ...cmd, '--help'], { PATH: process.env.PATH });
      expect(r.status, `${s}: yulan ${cmd.join(' ')} --help\n${r.stderr}`).toBe(0);
      expect(r.stdout.toLowerCase()).toContain(`usage: yulan ${cmd.slice(0, 2).filter((c) => !c.startsWith('-')).join(' ')}`);
    }));
  });

  it('exposes the ports the services listen on by default', () => {
    const exposed = (s: string): number[] => all(s, 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number)).sort((a, b) => a - b);
    const broker = loadBrokerConfig(fake);
    expect(exposed('broker')).toEqual([broker.mqttPort, broker.wsPort, broker.tls!.mqttsPort, broker.tls!.wssPort].sort((a, b) => a - b));
    const edge = loadEdgeConfig({ ...fake, ...envOf('edge') });
    expect(exposed('edge')).toEqual([edge.httpPort, edge.tls!.httpsPort]);
    const cloud = loadCloudConfig(fake);
    expect(exposed('cloud')).toEqual([cloud.httpPort, cloud.tls!.httpsPort]);
    expect(exposed('gateway-ocpp')).toEqual([loadOcppGatewayConfig(fake).port]);
    // The serial gateway's HTTP side stays on the container's loopback.
    expect(exposed('gateway-serial')).toEqual([]);
    expect(envOf('gateway-serial').YULAN_SERIAL_HTTP_HOST).toBe('127.0.0.1');
  });

  it('health-checks every service at its /healthz with deploy/healthcheck.mjs', async () => {
    const ports: Record<string, string> = { broker: 'YULAN_WS_PORT', edge: 'YULAN_EDGE_HTTP_PORT', cloud: 'YULAN_HTTP_PORT', 'gateway-ocpp': 'YULAN_OCPP_PORT', 'gateway-serial': 'YULAN_SERIAL_HTTP_PORT' };
    const paths: string[] = [];
    const server = createServer((req, res) => { paths.push(req.url ?? ''); res.writeHead(req.url === '/healthz' ? 200 : 404).end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = String((server.address() as AddressInfo).port);
    try {
      for (const s of SERVICES) {
        const hc = last(s, 'HEALTHCHECK');
        expect(hc, `${s} has a HEALTHCHECK`).toBeDefined();
        const cmd = JSON.parse(hc!.args.replace(/^(--\S+\s+)*CMD\s+/, '')) as string[];
        expect(cmd.slice(0, 2)).toEqual(['node', '/opt/yulan/deploy/healthcheck.mjs']);
        // The image's own settings, the service's port moved to a stand-in answering /healthz.
        const env = { PATH: process.env.PATH, ...envOf(s), [ports[s]!]: port };
        const ok = await run([join(root, 'deploy/healthcheck.mjs'), ...cmd.slice(2)], env);
        expect(ok.status, `${s}: ${ok.stderr}`).toBe(0);
      }
      expect(new Set(paths)).toEqual(new Set(['/healthz']));
    } finally {
      server.close();
    }
    // And it fails when nothing answers: the health check can tell.
    const down = await run([join(root, 'deploy/healthcheck.mjs'), 'cloud', '1'], { PATH: process.env.PATH, YULAN_HTTP_PORT: '1' });
    expect(down.status).toBe(1);
  });

  it('compose.yaml builds existing targets and publishes only ports the target exposes', () => {
    const blocks = compose.split(/\n {2}(?=[a-z-]+:\n)/).slice(1);
    const services = blocks.filter((b) => b.includes('target:'));
    expect(services.length).toBe(3);
    for (const b of services) {
      const target = /target: ([\w-]+)/.exec(b)![1]!;
      expect(SERVICES as readonly string[]).toContain(target);
      const published = [...(/ports: \[(.*)\]/.exec(b)?.[1] ?? '').matchAll(/:(\d+)"/g)].map((m) => Number(m[1]));
      const exposed = all(target, 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
      for (const p of published) expect(exposed, `${target} publishes ${p}`).toContain(p);
      expect(b).toMatch(/env_file: \[\/etc\/yulan\/[\w-]+\.env\]/);
    }
  });
});
