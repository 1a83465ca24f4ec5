// npm run chaos [-- <fault> [options]]: fault injection against real processes. Each fault
// prints what it did and what was lost, duplicated or reordered, and records a section of
// BENCHMARKS.md. Without a name, every fault runs in turn. Adding one is adding a line here.

export interface Fault {
  about: string;
  run(argv: string[]): Promise<unknown>;
}

const FAULTS: Record<string, Fault> = {};

/** Lets fault modules register themselves (imported below) without a cycle. */
export function registerFault(name: string, fault: Fault): void {
  FAULTS[name] = fault;
}

async function main(argv: string[]): Promise<number> {
  // Fault modules: each calls registerFault at import time.
  await Promise.all([
    // (added by each fault module: import('./chaos-broker.js'), import('./chaos-pipeline.js'))
    import('./chaos-pipeline.js'),
    import('./chaos-broker.js'),
  ]);
  const [name, ...rest] = argv;
  if (name === undefined || name === 'all') {
    for (const [k, f] of Object.entries(FAULTS)) {
      process.stderr.write(`== chaos: ${k} — ${f.about}\n`);
      await f.run(rest);
    }
    return 0;
  }
  const fault = FAULTS[name];
  if (!fault) {
    const list = Object.entries(FAULTS).map(([k, v]) => `  ${k.padEnd(16)} ${v.about}`).join('\n');
    process.stderr.write(`unknown fault "${name}"\n\nusage: npm run chaos -- [fault|all] [options]\n\n${list}\n`);
    return 2;
  }
  await fault.run(rest);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`chaos failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
