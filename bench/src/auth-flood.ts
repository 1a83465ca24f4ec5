// npm run bench -- auth-flood [--attempts 300 --in-flight 10]
// Wrong secrets sprayed at the broker from one address: what they cost the cloud (each
// unchecked attempt is one scrypt verification there) with the failed-authentication
// limits off and on (YULAN_AUTH_FAIL_PER_ADDRESS / _PER_CLIENT, loopback included here).
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { procUsage } from './procs.js';
import { describeMachine, fmt, machineMarkdown, publish, table } from './report.js';
import { getJson, startStack } from './stack.js';

interface Row { limits: string; attempts: number; refused4: number; refused5: number; other: number; cloudCpuMs: number; wallS: number; authThrottled: number }

async function spray(url: string, attempts: number, inFlight: number): Promise<Record<string, number>> {
  const codes: Record<string, number> = {};
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    for (let i = next++; i < attempts; i = next++) {
      const id = `ghost-${i % 50}`;
      const code = await mqtt.connectAsync(url, { clientId: id, username: id, password: `wrong-${i}`, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30_000 })
        .then(async (c) => { await c.endAsync(); return 'accepted'; }, (err: { code?: number }) => String(err.code ?? 'error'));
      codes[code] = (codes[code] ?? 0) + 1;
    }
  }));
  return codes;
}

export async function runAuthFlood(argv: string[]): Promise<Row[]> {
  const { values } = parseArgs({ args: argv, options: { attempts: { type: 'string', default: '300' }, 'in-flight': { type: 'string', default: '10' } } });
  const attempts = Number(values.attempts);
  const inFlight = Number(values['in-flight']);
  const machine = describeMachine();
  const rows: Row[] = [];
  for (const on of [false, true]) {
    const env = on
      ? { YULAN_LIMIT_LOOPBACK: 'true', YULAN_CONNECT_RATE_PER_ADDRESS: '0' }
      : { YULAN_AUTH_FAIL_PER_ADDRESS: '0', YULAN_AUTH_FAIL_PER_CLIENT: '0', YULAN_CONNECT_RATE_PER_ADDRESS: '0' };
    const stack = await startStack(null, [], { brokerEnv: env });
    try {
      process.stderr.write(`auth-flood: limits ${on ? 'on' : 'off'}: ${attempts} wrong secrets…\n`);
      const pid = stack.cloud.proc.pid!;
      const cpu0 = procUsage(pid).cpuMs;
      const t0 = Date.now();
      const codes = await spray(stack.mqttUrl, attempts, inFlight);
      const wallS = (Date.now() - t0) / 1000;
      const cloudCpuMs = procUsage(pid).cpuMs - cpu0;
      const m = await getJson<{ authThrottled?: number }>(`${stack.brokerHttpUrl}/metrics`, stack.brokerToken);
      rows.push({
        limits: on ? 'on (20 per address, 5 per client id, per 5 min)' : 'off', attempts,
        refused4: codes['4'] ?? 0, refused5: codes['5'] ?? 0, other: attempts - (codes['4'] ?? 0) - (codes['5'] ?? 0), cloudCpuMs, wallS, authThrottled: m.authThrottled ?? 0,
      });
    } finally {
      await stack.stop();
    }
  }
  const md = `## auth-flood — wrong MQTT secrets from one address, with and without the failure limits\n\n${machineMarkdown(machine)}\n\n${fmt(attempts)} CONNECTs with wrong secrets for 50 unknown device ids, ${inFlight} in flight, from one address (loopback, counted here with YULAN_LIMIT_LOOPBACK=true; the connect-rate limit off in both runs, so only the failure limits differ). Every attempt the broker does not refuse itself costs the cloud one scrypt verification (unknown ids are checked against a decoy hash, so they cost the same as known ones). "cloud CPU" is the cloud process's CPU time during the spray.\n\n${table(['limits', 'attempts', 'CONNACK 4 (checked)', 'CONNACK 5 (refused unchecked)', 'other', 'cloud CPU ms', 'wall s', 'authThrottled'], rows.map((r) => [r.limits, r.attempts, r.refused4, r.refused5, r.other, r.cloudCpuMs, r.wallS, r.authThrottled]))}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('auth-flood', md, { machine, rows });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return rows;
}
