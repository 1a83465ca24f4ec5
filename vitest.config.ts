import { defineConfig } from 'vitest/config';

// One run over every workspace. Integration suites start real servers (Aedes, influxd,
// Fastify, Chromium) on ephemeral ports, so they get generous timeouts; no timing is
// asserted anywhere. Under CI a JSON report is written too, for .ci/run's summary line.
export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // builds dashboards/www when a single suite is run on a fresh clone (testkit/src/global-setup.ts)
    globalSetup: ['testkit/src/global-setup.ts'],
    reporters: process.env.CI === 'true'
      ? ['default', ['json', { outputFile: '.ci/results.json' }]]
      : ['default'],
  },
});
