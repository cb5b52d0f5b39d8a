import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, MysqlDialect, SqliteDialect, type Generated } from 'kysely';
import { createPool } from 'mysql2';
import { redactUrl } from '../lib/redact-url.ts';
import { withStatementCache } from './sqlite-statement-cache.ts';

export type AppTable = { id: string; name: string; status: 'active' | 'disabled'; created_at: number };
export type ApiKeyTable = {
  id: string;
  app_id: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  created_at: number;
  revoked_at: number | null;
};
export type AppSecretTable = {
  id: string;
  app_id: string;
  secret: string;
  created_at: number;
  revoked_at: number | null;
};
export type BotTable = {
  app_id: string;
  id: string;
  name: string;
  current_version: number;
  created_at: number;
  updated_at: number;
};
export type BotVersionTable = {
  app_id: string;
  bot_id: string;
  version: number;
  definition: string;
  created_at: number;
};
export type ChatTable = {
  app_id: string;
  id: string;
  bot_id: string;
  uid: string;
  created_at: number;
  updated_at: number;
};
export type MessageTable = {
  id: string;
  app_id: string;
  chat_id: string;
  run_id: string;
  role: 'user' | 'assistant';
  content: string;
  reasoning: string | null;
  tool_calls: string | null;
  status: 'complete' | 'partial';
  created_at: number;
  /**
   * JSON content parts of a user message that held more than text; of an assistant message, its
   * audio answer's reference (`[{type: 'audio', audio: {id, expires_at, transcript}}]`); null otherwise.
   */
  parts: string | null;
};
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timeout';
export type RunTable = {
  id: string;
  app_id: string;
  bot_id: string;
  bot_version: number;
  chat_id: string | null;
  uid: string;
  api_key_id: string | null;
  transport: string;
  model: string;
  status: RunStatus;
  finish_reason: string | null;
  error_code: number | null;
  error_message: string | null;
  prompt_tokens: Generated<number>;
  completion_tokens: Generated<number>;
  total_tokens: Generated<number>;
  time_to_first_token_ms: number | null;
  duration_ms: number | null;
  caller: string | null;
  caller_sid: string | null;
  created_at: number;
  finished_at: number | null;
  /** UTC day of `created_at`, `YYYY-MM-DD`: usage groups by it. */
  day: string | null;
  /** 1 when the usage was counted here because the upstream reported none. */
  usage_estimated: Generated<number>;
  /** Prompt tokens served from the upstream's cache (part of prompt_tokens). */
  cached_tokens: Generated<number>;
  /** JSON array of the run's tool calls (server-run ones with their results). */
  tool_calls: string | null;
  /** Provider ids that answered, comma-separated; null when no model answered. */
  provider: string | null;
};

export type ProviderTable = {
  id: string;
  type: string;
  base_url: string;
  /** Sealed (secret-box.ts). */
  api_key: string | null;
  api_key_last4: string | null;
  /** Sealed JSON object. */
  headers: string | null;
  /** Comma-separated, for reads. */
  header_names: string | null;
  default_model: string | null;
  timeout_ms: number | null;
  connect_timeout_ms: number | null;
  max_concurrency: number | null;
  /** JSON array of app ids; null for every app. */
  allowed_apps: string | null;
  created_at: number;
  updated_at: number;
};

export type NodeRunStatus = 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'timeout';
export type NodeRunTable = {
  id: string;
  app_id: string;
  run_id: string;
  node_id: string;
  node_type: string;
  status: NodeRunStatus;
  strategy: string | null;
  attempts: number;
  started_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  prompt_tokens: Generated<number>;
  completion_tokens: Generated<number>;
  total_tokens: Generated<number>;
  error_code: number | null;
  error_message: string | null;
  output: string | null;
};

/** An event for the event sink, until the relay has published it (then `sent_at`). */
export type EventOutboxTable = {
  seq: Generated<number>;
  id: string;
  subject: string;
  payload: string;
  created_at: number;
  sent_at: number | null;
};

export type DatabaseSchema = {
  apps: AppTable;
  api_keys: ApiKeyTable;
  app_secrets: AppSecretTable;
  bots: BotTable;
  bot_versions: BotVersionTable;
  chats: ChatTable;
  messages: MessageTable;
  runs: RunTable;
  node_runs: NodeRunTable;
  providers: ProviderTable;
  event_outbox: EventOutboxTable;
};

export type Database = Kysely<DatabaseSchema>;
export type DatabaseKind = 'sqlite' | 'mysql';

export type DatabaseHandle = { db: Database; kind: DatabaseKind; describe: string };

/** MySQL when a URL is given (pool of 5–20), else the embedded SQLite file. */
export function createDatabase(options: { databaseUrl: string | undefined; sqlitePath: string }): DatabaseHandle {
  if (options.databaseUrl) {
    const url = new URL(options.databaseUrl);
    if (url.protocol !== 'mysql:') {
      throw new Error(`DATABASE_URL must be a mysql:// URL, got ${url.protocol}//`);
    }
    const pool = createPool({
      uri: options.databaseUrl,
      connectionLimit: 20,
      // Idle connections stay up to the limit and close after a quiet minute: a lower maxIdle made a
      // busy server open and close connections all the time (a handshake, auth and a cache each).
      idleTimeout: 60_000,
      connectTimeout: 5_000,
      // Kysely sends text queries, never prepared statements: the per-connection statement cache
      // would go unused, yet it preallocates four arrays of its size (16,000 by default, about
      // half a megabyte per connection, 10 MB for a full pool).
      maxPreparedStatements: 16,
      // bigint columns hold epoch ms, well inside Number's range.
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
    });
    return {
      db: new Kysely<DatabaseSchema>({ dialect: new MysqlDialect({ pool }) }),
      kind: 'mysql',
      describe: redactUrl(url),
    };
  }
  mkdirSync(path.dirname(options.sqlitePath), { recursive: true });
  const sqlite = new SQLite(options.sqlitePath);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  return {
    db: new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) }),
    kind: 'sqlite',
    describe: `sqlite:${options.sqlitePath}`,
  };
}
