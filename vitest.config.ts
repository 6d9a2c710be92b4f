import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Remote builds run real cargo through a real sshd, so single tests take seconds.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Two cores: cargo already uses both, so files run one at a time.
    fileParallelism: false,
  },
});
