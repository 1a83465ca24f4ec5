import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@yulan/testkit';
import { generateSecret } from '@yulan/protos';
import type { LoadDevice } from './load-protocol.js';

export interface MosquittoRun {
  url: string;
  /** with opts.tls: the MQTT/TLS listener */
  tlsUrl?: string;
  pid: number;
  subscriber: { clientId: string; username: string; password: string };
  stop(): Promise<void>;
}

export function mosquittoAvailable(): boolean {
  try {
    execFileSync('mosquitto', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // `mosquitto -h` exits 3 after printing its help: present.
    return (err as { status?: number }).status === 3;
  }
}

/**
 * Debian's Mosquitto 2.x configured to do the same work as Yulan's broker: a password per
 * device (hashed by mosquitto_passwd), an ACL that lets each device write only its own
 * telemetry topic and the subscriber read everything, no anonymous access, no persistence.
 */
export async function startMosquitto(devices: LoadDevice[], opts: { maxInflight?: number; tls?: { certPem: string; keyPem: string } } = {}): Promise<MosquittoRun> {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-mosquitto-'));
  const port = await freePort();
  const subPassword = generateSecret();
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, [...devices.map((d) => `${d.id}:${d.secret}`), `edge:${subPassword}`].join('\n') + '\n', { mode: 0o600 });
  execFileSync('mosquitto_passwd', ['-U', passwd]);
  // Started as root, Mosquitto drops to its own user: let it read the (now hashed) files.
  chmodSync(dir, 0o755);
  chmodSync(passwd, 0o644);
  const acl = join(dir, 'acl');
  writeFileSync(acl, 'user edge\ntopic read yulan/v1/#\n\npattern write yulan/v1/+/+/%u/telemetry\n');
  const tlsPort = opts.tls ? await freePort() : undefined;
  if (opts.tls) {
    // bench-only throwaway key, readable by the mosquitto user it drops to
    writeFileSync(join(dir, 'server.pem'), opts.tls.certPem, { mode: 0o644 });
    writeFileSync(join(dir, 'server-key.pem'), opts.tls.keyPem, { mode: 0o644 });
  }
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${passwd}`,
    `acl_file ${acl}`,
    'persistence false',
    'log_type error',
    'log_dest stderr',
    ...(opts.maxInflight !== undefined ? [`max_inflight_messages ${opts.maxInflight}`] : []),
    ...(opts.tls ? [`listener ${tlsPort} 127.0.0.1`, `certfile ${join(dir, 'server.pem')}`, `keyfile ${join(dir, 'server-key.pem')}`, 'tls_version tlsv1.2'] : []),
    '',
  ].join('\n'));
  const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-2000); });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort !== undefined ? { tlsUrl: `mqtts://127.0.0.1:${tlsPort}` } : {}),
    pid: proc.pid!,
    subscriber: { clientId: 'edge:bench', username: 'edge', password: subPassword },
    stop: () => new Promise((resolve) => {
      const done = (): void => { rmSync(dir, { recursive: true, force: true }); resolve(); };
      if (proc.exitCode !== null) { done(); return; }
      proc.once('exit', done);
      proc.kill('SIGTERM');
    }),
  };
}
