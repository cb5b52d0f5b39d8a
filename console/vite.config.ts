import { defaultClientConditions, defineConfig } from 'vite';

// The console is plain React on Vite's own JSX transform (no plugin: no dev-time fast refresh is
// needed to build it). The server serves dist/ at `/`; hashed files go under assets/.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  // Workspace packages from their TypeScript sources (the `astron-source` export condition).
  resolve: { conditions: ['astron-source', ...defaultClientConditions] },
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1000,
  },
});
