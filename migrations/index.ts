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
import * as chatsByUser from './2026-12-02T120000_chats_by_user.ts';
import * as eventOutbox from './2026-12-02T130000_event_outbox.ts';
import * as runUsageDetails from './2026-12-02T140000_run_usage_details.ts';
import * as runsStatus from './2026-12-02T150000_runs_status.ts';

export const migrations: Record<string, Migration> = {
  '2026-11-25T120000_initial': initial,
  '2026-11-25T150000_run_day': runDay,
  '2026-11-25T180000_node_runs': nodeRuns,
  '2026-12-02T110000_providers': providers,
  '2026-12-02T120000_chats_by_user': chatsByUser,
  '2026-12-02T130000_event_outbox': eventOutbox,
  '2026-12-02T140000_run_usage_details': runUsageDetails,
  '2026-12-02T150000_runs_status': runsStatus,
};
