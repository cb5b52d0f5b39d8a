#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, as the rest of the project runs (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
