/**
 * Every migration, by name; names are timestamps, so name order is apply order. Imported, not read
 * from the folder at run time, so the built server carries them. A test checks that this lists
 * every migration file in this folder.
 */
import type { Migration } from 'kysely';
import * as initial from './2026-11-25T120000_initial.ts';
import * as runDay from './2026-11-25T150000_run_day.ts';
import * as nodeRuns from './2026-11-25T180000_node_runs.ts';
import * as providers from './2026-12-02T110000_providers.ts';

export const migrations: Record<string, Migration> = {
  '2026-11-25T120000_initial': initial,
  '2026-11-25T150000_run_day': runDay,
  '2026-11-25T180000_node_runs': nodeRuns,
  '2026-12-02T110000_providers': providers,
};
