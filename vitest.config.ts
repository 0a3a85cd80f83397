import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests bind loopback ports and spawn workers; two cores do not like a fork storm.
    pool: 'forks',
    maxWorkers: 2,
  },
});
