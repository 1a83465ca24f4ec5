// npm run bench -- <scenario> [options]: one entry point for every benchmark scenario.
// A scenario is a function of its argv that prints its figures and records them in
// BENCHMARKS.md; adding one is adding a line here.
import { runIngest } from './ingest.js';
import { runThroughput } from './throughput.js';

const SCENARIOS: Record<string, { about: string; run: (argv: string[]) => Promise<unknown> }> = {
  ingest: { about: 'devices → broker → edge → store: throughput, lag, loss (SQLite and InfluxDB)', run: runIngest },
  throughput: { about: 'fan-in publishers → one subscriber: Yulan broker vs Mosquitto, QoS 0 and 1', run: runThroughput },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const scenario = name === undefined ? undefined : SCENARIOS[name];
  if (!scenario) {
    const list = Object.entries(SCENARIOS).map(([k, v]) => `  ${k.padEnd(12)} ${v.about}`).join('\n');
    process.stderr.write(`${name ? `unknown scenario "${name}"\n\n` : ''}usage: npm run bench -- <scenario> [options]\n\n${list}\n`);
    return 2;
  }
  await scenario.run(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
