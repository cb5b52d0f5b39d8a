// Type-checked lint for the whole monorepo; the layer rules below keep imports flowing one way
// (README "Layout", docs/decisions/2026-12-02-import-boundaries.md).
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

/**
 * The folders of server/src, bottom-up. A folder may import itself and the layers below it, never
 * a folder beside it or above it; app.ts and main.ts (the wiring) sit on top and may import all.
 * `shared` (the package) is below everything.
 */
const serverLayers = [
  ['lib', 'errors', 'config'],
  ['providers', 'store', 'cache', 'run-log'],
  ['workflow', 'observability'],
  ['chat', 'admin', 'auth'],
  ['runs'],
  ['transport'],
];
const layerOrder = serverLayers.map((layer) => layer.join('/')).join(' → ');

// A new folder must be given its place here, or lint fails: no folder escapes the rules.
const placed = new Set(serverLayers.flat());
const unplaced = readdirSync(new URL('server/src/', import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !placed.has(entry.name))
  .map((entry) => entry.name);
if (unplaced.length > 0) {
  throw new Error(`eslint.config.js: place server/src/${unplaced.join(', ')} in serverLayers.`);
}

/** One no-restricted-imports block per folder: every folder at its layer or above is off limits. */
const serverLayerRules = serverLayers.flatMap((layer, index) =>
  layer.map((folder) => {
    const offLimits = serverLayers
      .slice(index)
      .flat()
      .filter((other) => other !== folder);
    const below = serverLayers.slice(0, index).flat();
    return {
      files: [`server/src/${folder}/**/*.ts`],
      ignores: ['**/*.test.ts'],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              ...offLimits.map((other) => ({
                group: [`**/${other}/**`],
                message: `${folder}/ may import only ${below.length > 0 ? below.map((name) => `${name}/`).join(', ') : 'shared and packages'}; ${other}/ is beside or above it (layers, bottom-up: ${layerOrder}).`,
              })),
              {
                group: ['**/app.ts', '**/main.ts'],
                message: 'app.ts and main.ts wire everything; nothing imports them.',
              },
            ],
          },
        ],
      },
    };
  }),
);

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'data/**', 'eslint.config.js', 'examples/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The console and the client's React hook: the two classic hook rules.
    files: ['console/**/*.{ts,tsx}', 'client/src/react.ts'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  {
    // No import cycles in the packages' sources. Type-only imports do not count for this rule
    // (they vanish at run time); the layer rules below and dpdm still see them.
    files: ['server/src/**/*.ts', 'client/src/**/*.ts', 'shared/src/**/*.ts', 'console/src/**/*.{ts,tsx}'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  ...serverLayerRules,
  {
    files: ['shared/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!zod$|\\.)', message: 'shared depends on zod only.' }] },
      ],
    },
  },
  {
    // The client and the console are separate packages: they may name server types (AppRouter),
    // never server code.
    files: ['client/src/**/*.ts', 'console/src/**/*.{ts,tsx}'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/server/**'],
              allowTypeImports: true,
              message: 'client and console import server types only (import type).',
            },
          ],
        },
      ],
    },
  },
  {
    // Kysely migrations run on Kysely<any>: they must not depend on today's schema types.
    files: ['migrations/**/*.ts', 'server/src/store/migrate.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests and benches may be loose with `any` when reading wire JSON.
    files: ['**/test/**/*.ts', '**/*.test.ts', 'server/bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
    },
  },
);
