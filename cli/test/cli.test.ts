import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './support.js';

const BIN = fileURLToPath(new URL('../bin/yulan.js', import.meta.url));

/** Runs the built `yulan` command; `onStdout` may signal it (e.g. Ctrl-C). */
function run(args: string[], env: NodeJS.ProcessEnv, onStdout?: (all: string, child: ReturnType<typeof spawn>) => void):
  Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); onStdout?.(stdout, child); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the yulan command', () => {
  const tmp = tempDir('yulan-cli-');
  afterAll(() => tmp.cleanup());

  it('prints usage for help and fails on an unknown command', async () => {
    const help = await run(['help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('yulan up');
    // The exit-code table, one line per code, from cli/src/commands/errors.ts.
    expect(help.stdout).toMatch(/Exit codes:\n {2}0 {2}done/);
    expect(help.stdout).toMatch(/\n {2}4 {2}the request was refused.*\n(.*\n)* {2}7 {2}the device failed/);
    const admin = await run(['admin', '--help'], {});
    expect(admin.code).toBe(0);
    expect(admin.stdout).toContain('usage: yulan admin rotate-token');
    const bad = await run(['frobnicate'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });

  it('--help on a service prints its help and starts nothing; an argument it does not take is refused', async () => {
    const env = {
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '0', YULAN_LOG_LEVEL: 'warn',
    };
    // Should it start anyway (the bug), stop it at once so the assertions below report it.
    const stopIfStarted = (out: string, child: ReturnType<typeof spawn>) => { if (out.includes('Ctrl-C stops everything')) child.kill('SIGINT'); };
    for (const args of [['up', '--help'], ['up', '-h'], ['cloud', '--help'], ['broker', '-h']]) {
      const r = await run(args, env, stopIfStarted);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: yulan ${args[0]}`);
      expect(r.stdout).not.toContain('Ctrl-C stops everything');
    }
    const bad = await run(['up', '--port', '9000'], env, stopIfStarted);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unexpected argument "--port"');
  });

  it('refuses to start a service with missing settings, naming each one', async () => {
    const r = await run(['broker'], { YULAN_MQTT_PORT: 'not-a-port' });
    expect(r.code).toBe(1);
    for (const v of ['YULAN_MQTT_PORT', 'YULAN_CLOUD_URL', 'YULAN_BROKER_TOKEN', 'YULAN_BROKER_ACCOUNTS_FILE']) expect(r.stderr).toContain(v);
  });

  it('yulan up prints where everything is and stops cleanly on Ctrl-C', async () => {
    let signalled = false;
    const r = await run(['up'], {
      YULAN_DATA_DIR: tmp.dir, YULAN_LOG_LEVEL: 'warn', YULAN_LOG_FORMAT: 'json',
      YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1',
    }, (out, child) => {
      if (!signalled && out.includes('Ctrl-C stops everything')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    expect(signalled).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Dashboard\s+http:\/\/localhost:\d+\//);
    expect(r.stdout).toMatch(/Admin token\s+[A-Za-z0-9_-]{40,}/);
  });
});
