import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources (the `astron-source` export condition), not dist/.
const conditions = ['astron-source', 'node', 'development|production'];

export default defineConfig({
  // Tests (the ssr environment) and globalSetup (vitest's own) both run Node code.
  ssr: { resolve: { conditions } },
  environments: { __vitest__: { resolve: { conditions } } },
  test: {
    include: [
      'shared/src/**/*.test.ts',
      'server/src/**/*.test.ts',
      'server/test/**/*.test.ts',
      'client/src/**/*.test.ts',
      'client/test/**/*.test.ts',
      'console/src/**/*.test.ts',
      'console/test/**/*.test.ts',
    ],
    globalSetup: ['server/test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Each file starts its own servers on port 0; two workers suit the 2-core machines.
    maxWorkers: 2,
  },
});
