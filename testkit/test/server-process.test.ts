import { afterEach, describe, expect, it } from 'vitest';
import { serverProcess, type ServerProcess } from '../src/server-process.js';

// The shared start/stop loop of the real servers the suites launch, exercised with `node`
// itself as the "server": one that dies at start, one that becomes ready, restarts.
const node = process.execPath;
let running: ServerProcess | undefined;
afterEach(async () => { await running?.stop(); running = undefined; });

describe('serverProcess', () => {
  it('fails at once with the output when the server exits before it is ready (not at the timeout)', async () => {
    running = serverProcess({
      name: 'dying', bin: node, args: ['-e', 'console.error("bad config line 3"); process.exit(3)'],
      startTimeoutMs: 600_000, stopSignal: 'SIGKILL', ready: async () => false,
    });
    await expect(running.start()).rejects.toThrow(/dying exited \(3\) before it was ready:\n.*bad config line 3/s);
    expect(running.pid).toBeUndefined();
  });

  it('fails with a clear message when the binary cannot be started', async () => {
    running = serverProcess({ name: 'ghost', bin: '/nonexistent/ghost-server', args: [], startTimeoutMs: 600_000, stopSignal: 'SIGKILL', ready: async () => false });
    await expect(running.start()).rejects.toThrow(/ghost could not be started: .*ENOENT/);
  });

  it('is ready when its output says so, stops with the given signal, and starts again', async () => {
    running = serverProcess({
      name: 'echo', bin: node, args: ['-e', 'console.log("ready to serve"); process.on("SIGQUIT", () => { console.log("quit"); process.exit(0); }); setInterval(() => {}, 1000)'],
      startTimeoutMs: 600_000, stopSignal: 'SIGQUIT', ready: async (out) => out.includes('ready to serve'),
    });
    await running.start();
    const first = running.pid;
    expect(first).toBeGreaterThan(0);
    await running.stop();
    expect(running.pid).toBeUndefined();
    await running.start();
    expect(running.pid).toBeGreaterThan(0);
    expect(running.pid).not.toBe(first);
  });

  it('reports a server that never becomes ready and does not leave it running', async () => {
    let seen = 0;
    running = serverProcess({
      name: 'slow', bin: node, args: ['-e', 'setInterval(() => {}, 1000)'],
      startTimeoutMs: 300, stopSignal: 'SIGKILL', ready: async () => { seen++; return false; },
    });
    await expect(running.start()).rejects.toThrow(/slow was not ready within 300 ms/);
    expect(seen).toBeGreaterThan(0);
    expect(running.pid).toBeUndefined();
  });
});
