// npm run bench -- tls-connections [--connections 2000 --concurrency 50 --peers yulan,mosquitto]
// Idle MQTT connections over TLS vs plain TCP: connects/s (handshake included) and broker
// memory per idle connection, Yulan's broker vs Mosquitto with the same certificate (ECDSA
// P-256 from the development CA), the same generator and the same devices.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCa, issueCert } from '@yulan/cli';
import { freePort } from '@yulan/testkit';
import { DeviceKind } from '@yulan/protos';
import { Generators, type ConnectionsOptions } from './connections.js';
import { fleetDevices, seedRegistry, treeUsage } from './fleet.js';
import type { LoadDevice } from './load-protocol.js';
import { mosquittoAvailable, startMosquitto } from './mosquitto.js';
import { describeMachine, fmt, machineMarkdown, publish, table } from './report.js';
import { startStack } from './stack.js';

interface Row { peer: string; transport: 'plain' | 'TLS'; connected: number; failed: number; connectsPerS: number; kibPerConn: number; brokerCpuPct: number; errors: Record<string, number> }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(peer: string, transport: Row['transport'], url: string, pid: number, devices: LoadDevice[], o: ConnectionsOptions, ca: string | undefined): Promise<Row> {
  await sleep(1000);
  const base = treeUsage(pid);
  const g = new Generators(url, o, ca);
  try {
    const r = await g.open(devices, 0);
    await sleep(3000);
    const connected = await g.alive();
    const after = treeUsage(pid);
    return {
      peer, transport, connected, failed: r.failed, errors: r.errors, connectsPerS: r.ok / Math.max(0.001, r.ms / 1000),
      kibPerConn: (after.rssBytes - base.rssBytes) / 1024 / Math.max(1, connected), brokerCpuPct: (100 * (after.cpuMs - base.cpuMs)) / Math.max(1, r.ms),
    };
  } finally {
    g.stop();
  }
}

export async function runTlsConnections(argv: string[]): Promise<Row[]> {
  const { values } = parseArgs({ args: argv, options: {
    connections: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '50' }, peers: { type: 'string', default: 'yulan,mosquitto' },
  } });
  const n = Number(values.connections);
  const peers = String(values.peers).split(',').filter((p) => p !== 'mosquitto' || mosquittoAvailable());
  const o: ConnectionsOptions = { steps: [n], peers: [], keepaliveS: 60, holdS: 0, authSample: 0, authConcurrency: 1, concurrency: Number(values.concurrency), brokerWorkers: 0, retries: 0 };
  const devices = fleetDevices([{ kind: DeviceKind.ENV_MONITOR, count: n }]);
  const ca = await createCa('Yulan bench CA');
  const leaf = await issueCert(ca, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  const dir = mkdtempSync(join(tmpdir(), 'yulan-tls-bench-'));
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');
  writeFileSync(certFile, leaf.certPem);
  writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 });
  const rows: Row[] = [];
  const machine = describeMachine();
  try {
    for (const peer of peers) {
      for (const transport of ['plain', 'TLS'] as const) {
        process.stderr.write(`tls-connections: ${peer} ${transport}: ${fmt(n)} connections…\n`);
        if (peer === 'mosquitto') {
          const m = await startMosquitto(devices, { tls: leaf });
          try {
            rows.push(await measure('Mosquitto', transport, transport === 'TLS' ? m.tlsUrl! : m.url, m.pid, devices, o, transport === 'TLS' ? ca.certPem : undefined));
          } finally {
            await m.stop();
          }
        } else {
          const mqtts = await freePort();
          const stack = await startStack(null, [], { brokerEnv: { YULAN_TLS_CERT_FILE: certFile, YULAN_TLS_KEY_FILE: keyFile, YULAN_MQTTS_PORT: String(mqtts), YULAN_WSS_PORT: '0' } });
          try {
            seedRegistry(stack, devices);
            rows.push(await measure('Yulan broker', transport, transport === 'TLS' ? `mqtts://127.0.0.1:${mqtts}` : stack.mqttUrl, stack.broker.proc.pid!, devices, o, transport === 'TLS' ? ca.certPem : undefined));
          } finally {
            await stack.stop();
          }
        }
        const last = rows.at(-1)!;
        process.stderr.write(`  ${fmt(last.connected)} connected, ${fmt(last.connectsPerS)}/s, ${fmt(last.kibPerConn)} KiB each, errors ${JSON.stringify(last.errors)}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = (peer: string): string => {
    const p = rows.find((r) => r.peer === peer && r.transport === 'plain');
    const t = rows.find((r) => r.peer === peer && r.transport === 'TLS');
    return p && t ? `- ${peer}: TLS / plain = ${fmt(t.connectsPerS / p.connectsPerS)}× connect rate, ${fmt(t.kibPerConn / Math.max(0.001, p.kibPerConn))}× memory per connection.` : '';
  };
  const md = `## tls-connections — idle connections over MQTT/TLS vs plain${peers.length > 1 ? ', Yulan vs Mosquitto' : ''}\n\n${machineMarkdown(machine)}\n\n${fmt(n)} devices with their own passwords connect once each (${o.concurrency} in flight, one generator process) and stay idle; each peer and transport on a fresh broker process. TLS: both brokers accept TLS 1.2+ and the client offers up to 1.3; the same ECDSA P-256 server certificate from a Yulan development CA for both brokers, verified by the client. "connects/s" includes the TLS handshake and the password check (Yulan: cloud registry, scrypt N=2^4 seed; Mosquitto: password file); memory is broker RSS growth (process tree) per connected device; CPU is the broker's share of one core while connecting. The generator is one Node process doing every client-side handshake: where the broker's CPU stays low (Mosquitto over TLS) the connect rate is the generator's limit, not the broker's. Yulan's first connects are bound by the device check against the cloud (one HTTP call per new device), which is why its plain and TLS rates differ little. The machine is shared with other work (load average ~11 on 2 cores during the run): compare rows of one run, not runs.\n\n${table(['broker', 'transport', 'connected', 'failed', 'connects/s', 'KiB / connection', 'broker CPU %'], rows.map((r) => [r.peer, r.transport, r.connected, r.failed, r.connectsPerS, r.kibPerConn, r.brokerCpuPct]))}\n\n${peers.map((p) => ratio(p === 'yulan' ? 'Yulan broker' : 'Mosquitto')).filter(Boolean).join('\n')}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('tls-connections', md, { machine, rows });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return rows;
}
