// `npm run lint` runs dpdm after eslint: import-x/no-cycle skips type-only imports, dpdm counts them,
// so no loop of any kind (docs/decisions/2026-12-02-import-boundaries.md).
export default {
  files: ['server/src/**/*.ts', 'client/src/**/*.ts', 'shared/src/**/*.ts', 'console/src/**/*.{ts,tsx}'],
  exitCode: 'circular:1',
  tree: false,
  warning: false,
  progress: false,
};
