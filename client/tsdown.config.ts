import { defineConfig } from 'tsdown';

// Published build of @astron-chat/client: ESM, declarations (the server's AppRouter type inlined, so a
// typed client needs no server source) and source maps in dist/; cli.js is the `astron-chat` bin.
export default defineConfig({
  entry: ['src/index.ts', 'src/browser.ts', 'src/react.ts', 'src/cli.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  dts: { sourcemap: true },
  // Packages stay imports (the server's own ones drop out with the wiring; see src/app-router.ts).
  deps: { neverBundle: [/^[^./]/] },
  sourcemap: true,
  clean: true,
  fixedExtension: false,
  tsconfig: '../tsconfig.build.json',
});
