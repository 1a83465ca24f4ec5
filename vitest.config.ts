import { defineConfig } from 'vitest/config';

// One run over every workspace. Integration suites start real servers (Aedes, influxd,
// Fastify) on ephemeral ports, so they get generous timeouts; no timing is asserted.
export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
