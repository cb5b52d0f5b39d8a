// Type-checked lint for the whole monorepo; folder rules keep imports flowing one way (STYLE.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = ['transport', 'chat', 'workflow', 'providers', 'store', 'cache', 'auth'];

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
    // Nothing imports transport/; the core never reaches up into transports.
    files: ['server/src/**/*.ts'],
    ignores: ['server/src/transport/**', 'server/src/app.ts', 'server/src/main.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/transport/**'], message: 'Only app.ts wires transports.' }] },
      ],
    },
  },
  {
    files: ['server/src/lib/**/*.ts', 'server/src/errors/**/*.ts', 'server/src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: layers.map((layer) => `**/${layer}/**`), message: 'lib, errors and config hold no domain code.' },
          ],
        },
      ],
    },
  },
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
