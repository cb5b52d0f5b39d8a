import { defineConfig } from 'tsdown';

// Published build of @astron-chat/shared: ESM, declarations and source maps in dist/.
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  dts: { sourcemap: true },
  sourcemap: true,
  clean: true,
  tsconfig: '../tsconfig.build.json',
});
