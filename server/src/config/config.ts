import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';

const booleanFromEnv = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((value) => ['1', 'true', 'yes', 'on'].includes(value));

const commaList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    );

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Every setting the server reads from the environment. Each key is the env var name;
 * defaults are those of the embedded demo (SQLite file, in-process cache, loopback).
 */
const environmentSchema = z.object({
  /** Port to listen on. Default 8000. */
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  /** Interface to bind. Default 127.0.0.1 (loopback only). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** mysql://user:pass@host:port/db for MySQL; unset means the SQLite file under DATA_DIR. */
  DATABASE_URL: z.string().url().optional(),
  /** redis://host:port/db for Redis; unset means the in-process cache. */
  REDIS_URL: z.string().url().optional(),
  /** Folder of the SQLite file. Default ./data. */
  DATA_DIR: z.string().min(1).default('data'),
  /** Demo mode seeds demo-app / sk-demo / demo-secret / demo-bot and accepts them. Default: on for
   * the embedded default bound to loopback, off otherwise. */
  DEMO_MODE: booleanFromEnv.optional(),
  /** Trust `x-consumer-username` / `x_consumer_username` as the app id (a gateway sets it).
   * Default: on in demo mode, off otherwise. */
  TRUST_CONSUMER_HEADER: booleanFromEnv.optional(),
  /** Upstream for the demo app's `upstream-bot` (any OpenAI-compatible base URL, e.g. http://host/v1). */
  OPENAI_BASE_URL: z.string().url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  /** Pause between words of the built-in demo model, ms. Default 30. */
  DEMO_MODEL_DELAY_MS: z.coerce.number().int().min(0).max(10_000).default(30),
  /** A run is ended with code 1005 after this long, seconds (300–1800). Default 600. */
  RUN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(1800).default(600),
  /** Heartbeat after this much silence on a stream, ms. Default 30000. */
  PING_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
  /** Largest accepted request body, bytes. Default 1 MiB. */
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** Freshness window of a WebSocket signature's `ts`, seconds. Default 300. */
  SIGNATURE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(300),
  /** Largest unsent data per WebSocket or SSE response, bytes. Past it, further frames wait for the reader
   * to catch up; if what waits passes it too, or the wait 10 s, the stream is closed as a slow consumer. Default 4 MiB. */
  STREAM_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  /** Largest unsent data of all WebSocket and SSE streams together, bytes: past it the streams holding
   * most are closed first, as slow consumers (4008). Default 256 MiB. */
  STREAM_MAX_TOTAL_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * 1024 * 1024),
  /** Event-loop lag, ms (how late a 50 ms timer runs, median of the last five), past which new runs
   * and WebSocket upgrades are refused with 503 / 1010 and Retry-After; runs already going are never
   * cut. 0 turns it off. Default 500. */
  OVERLOAD_LAG_MS: z.coerce.number().min(0).max(60_000).default(500),
  /** Token for the admin API (`x-admin-token` header) and CLI. Unset: admin is off, except in demo
   * mode, where it defaults to `demo-admin-token`. */
  ADMIN_TOKEN: z.string().min(12, 'must be at least 12 characters').optional(),
  /** Origins (`https://api.example.com`) that workflow `http` nodes and agent http tools may call,
   * comma-separated. Default none; demo mode also allows this server's own origin. */
  HTTP_TOOL_ALLOWLIST: commaList(''),
  /** Browser origins (`https://app.example.com`) that may call this server, comma-separated, or `*` for any.
   * Default none: only same-origin pages and non-browser callers. */
  CORS_ORIGINS: commaList('').pipe(
    z.array(
      z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'each entry must be an origin like https://app.example.com, or *'),
    ),
  ),
  /** Send `access-control-allow-credentials: true` to listed origins (cookies). Not with `*`. Default false. */
  CORS_ALLOW_CREDENTIALS: booleanFromEnv.default(false),
  /** Let allow-listed host names resolve to private or loopback addresses. Default false. */
  HTTP_TOOL_ALLOW_PRIVATE: booleanFromEnv.default(false),
  /** Inputs containing any of these terms (comma-separated, case-insensitive) are refused with 1007. */
  INPUT_BLOCKED_TERMS: commaList(''),
  /** Longest question plus inputs, characters. Default 100000. */
  INPUT_MAX_CHARS: z.coerce.number().int().min(1).default(100_000),
  /** Largest inline data of one content part (a data: image URL, input_audio data, file_data), bytes;
   * larger is refused with 1011. The whole body is bounded by MAX_BODY_BYTES. Default 512 KiB. */
  INPUT_MAX_PART_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(512 * 1024),
  /** OpenAI-compatible moderation endpoint (`…/v1/moderations`); unset means no moderation call. */
  MODERATION_URL: z.string().url().optional(),
  MODERATION_API_KEY: z.string().optional(),
  MODERATION_MODEL: z.string().optional(),
  /** Origins file URLs in `parameters` must come from, comma-separated. Default: any public https host. */
  FILE_URL_ALLOWLIST: commaList(''),
  /** File name extensions accepted in `parameters`, comma-separated. */
  FILE_ALLOWED_TYPES: commaList('pdf,txt,md,csv,json,png,jpg,jpeg,gif,webp,doc,docx,xls,xlsx,ppt,pptx,mp3,wav'),
  /** Largest file in `parameters`, bytes (checked for allow-listed origins). Default 20 MiB. */
  FILE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(20 * 1024 * 1024),
  /** A run that no client follows is cancelled after this long, seconds. Default 30. */
  ORPHAN_TIMEOUT_SECONDS: z.coerce.number().min(0.5).max(3600).default(30),
  /** Runs an app may start a minute, across instances. Default 0 (no limit). */
  RATE_LIMIT_APP_PER_MINUTE: z.coerce.number().int().min(0).default(0),
  /** Runs one API key may start a minute, across instances. Default 0 (no limit). */
  RATE_LIMIT_KEY_PER_MINUTE: z.coerce.number().int().min(0).default(0),
  /** Runs of one app at once, across instances. Default 2000. */
  MAX_CONCURRENT_RUNS_PER_APP: z.coerce.number().int().min(1).default(2000),
  /** Runs this instance executes at once; more are refused with 503. Default 4000 (the design profile: 50). */
  MAX_ACTIVE_RUNS: z.coerce.number().int().min(1).default(4000),
  /** Folder of the built web console (`npm run build` writes it), served at `/`. Default console/dist. */
  CONSOLE_DIR: z.string().min(1).default('console/dist'),
  /** Key that encrypts provider API keys and app signing secrets at rest (AES-256-GCM): 32 bytes as
   * base64 or 64 hex digits (`openssl rand -base64 32`). Required to store provider keys outside demo
   * mode; demo mode derives a fixed one (not secret) when unset. */
  SECRETS_KEY: z
    .string()
    .refine((value) => parseSecretsKey(value) !== undefined, 'must be 32 bytes as base64 or 64 hex digits')
    .optional(),
  /** Default connect timeout of a model provider, seconds (a provider's own `connectTimeoutMs` wins). Default 10. */
  PROVIDER_CONNECT_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(300).default(10),
  /** Default first-byte timeout of a model provider, and the longest silence inside its stream, seconds
   * (a provider's own `timeoutMs` wins). Default 60: a streaming provider sends its headers at once and
   * tokens (or reasoning) steadily, so a minute of silence is a hung upstream, ended as 1005 long before
   * RUN_TIMEOUT_SECONDS. */
  PROVIDER_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(1800).default(60),
  /** pino level. Default info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Also write the JSON log lines to this file (rotated, old files deleted); unset: stdout only. */
  LOG_FILE: z.string().min(1).optional(),
  /** Rotate the log file at this size: a number of MB, or with a unit (`500k`, `10m`, `1g`). Default 10m. */
  LOG_FILE_MAX_SIZE: z
    .string()
    .regex(/^\d+[kmg]?$/i, 'must be a size such as 10m, 500k or 1g')
    .default('10m'),
  /** Delete rotated log files older than this many days. Default 7. */
  LOG_FILE_RETENTION_DAYS: z.coerce.number().min(1).max(3650).default(7),
  /** nats://host:4222: publish run and metering events to NATS JetStream (stream ASTRON_EVENTS); unset: no events. */
  EVENT_SINK_URL: z
    .string()
    .url()
    .refine((value) => value.startsWith('nats://'), 'must be a nats:// URL, e.g. nats://127.0.0.1:4222')
    .optional(),
  /** OTLP/HTTP collector base URL (http://collector:4318): traces are exported there; unset: tracing is off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  /** Put message contents (prompts, answers, tool arguments) on spans. Default false. */
  OTEL_GENAI_CAPTURE_CONTENT: booleanFromEnv.default(false),
});

export type Config = Readonly<{
  port: number;
  host: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  sqlitePath: string;
  demoMode: boolean;
  trustConsumerHeader: boolean;
  upstream: { baseUrl: string; apiKey: string | undefined; model: string } | undefined;
  /** SECRETS_KEY, or the demo's derived key; undefined outside demo mode without SECRETS_KEY. */
  secretsKey: { bytes: Buffer; source: 'configured' | 'demo' } | undefined;
  /** Defaults for providers that set none, ms. */
  providerDefaults: { connectTimeoutMs: number; timeoutMs: number };
  demoModelDelayMs: number;
  runTimeoutMs: number;
  pingIntervalMs: number;
  maxBodyBytes: number;
  signatureWindowSeconds: number;
  streamMaxBufferedBytes: number;
  streamMaxTotalBufferedBytes: number;
  /** OVERLOAD_LAG_MS; 0 = no load shedding. */
  overloadLagMs: number;
  adminToken: string | undefined;
  orphanTimeoutMs: number;
  limits: {
    appPerMinute: number;
    keyPerMinute: number;
    concurrentRunsPerApp: number;
    activeRunsPerInstance: number;
  };
  httpTools: { allowlist: string[]; allowPrivateNetwork: boolean };
  cors: { origins: string[]; allowCredentials: boolean };
  inputPolicy: {
    blockedTerms: string[];
    maxInputChars: number;
    maxPartBytes: number;
    moderation: { url: string; apiKey: string | undefined; model: string | undefined } | undefined;
    files: { allowedOrigins: string[]; allowedTypes: string[]; maxBytes: number };
  };
  consoleDir: string;
  logLevel: z.infer<typeof environmentSchema>['LOG_LEVEL'];
  logFile: { path: string; maxSize: string; retentionDays: number } | undefined;
  eventSinkUrl: string | undefined;
  tracing: { endpoint: string; captureContent: boolean } | undefined;
}>;

export const DEMO_ADMIN_TOKEN = 'demo-admin-token';

/** Reads the environment; throws one message naming every bad variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const entries = Object.entries(environment).filter(([, value]) => value !== undefined && value !== '');
  const parsed = environmentSchema.safeParse(Object.fromEntries(entries));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  const env = parsed.data;
  if (env.CORS_ALLOW_CREDENTIALS && env.CORS_ORIGINS.includes('*')) {
    throw new Error(
      'Invalid configuration: CORS_ORIGINS: "*" cannot be combined with CORS_ALLOW_CREDENTIALS; list the origins instead',
    );
  }
  const embedded = env.DATABASE_URL === undefined;
  const demoMode = env.DEMO_MODE ?? (embedded && LOOPBACK_HOSTS.has(env.HOST));
  return Object.freeze({
    port: env.PORT,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    sqlitePath: path.resolve(env.DATA_DIR, 'astron-chat.sqlite'),
    demoMode,
    trustConsumerHeader: env.TRUST_CONSUMER_HEADER ?? demoMode,
    upstream:
      env.OPENAI_BASE_URL === undefined
        ? undefined
        : { baseUrl: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY, model: env.OPENAI_MODEL },
    secretsKey:
      env.SECRETS_KEY !== undefined
        ? { bytes: parseSecretsKey(env.SECRETS_KEY) as Buffer, source: 'configured' as const }
        : demoMode
          ? {
              bytes: createHash('sha256').update('astron-chat demo mode secrets key (not secret)').digest(),
              source: 'demo' as const,
            }
          : undefined,
    providerDefaults: {
      connectTimeoutMs: Math.round(env.PROVIDER_CONNECT_TIMEOUT_SECONDS * 1000),
      timeoutMs: Math.round(env.PROVIDER_TIMEOUT_SECONDS * 1000),
    },
    demoModelDelayMs: env.DEMO_MODEL_DELAY_MS,
    runTimeoutMs: env.RUN_TIMEOUT_SECONDS * 1000,
    pingIntervalMs: env.PING_INTERVAL_MS,
    maxBodyBytes: env.MAX_BODY_BYTES,
    signatureWindowSeconds: env.SIGNATURE_WINDOW_SECONDS,
    streamMaxBufferedBytes: env.STREAM_MAX_BUFFERED_BYTES,
    streamMaxTotalBufferedBytes: env.STREAM_MAX_TOTAL_BUFFERED_BYTES,
    overloadLagMs: env.OVERLOAD_LAG_MS,
    adminToken: env.ADMIN_TOKEN ?? (demoMode ? DEMO_ADMIN_TOKEN : undefined),
    httpTools: { allowlist: env.HTTP_TOOL_ALLOWLIST, allowPrivateNetwork: env.HTTP_TOOL_ALLOW_PRIVATE },
    cors: {
      origins: env.CORS_ORIGINS.map((origin) => origin.toLowerCase()),
      allowCredentials: env.CORS_ALLOW_CREDENTIALS,
    },
    inputPolicy: {
      blockedTerms: env.INPUT_BLOCKED_TERMS,
      maxInputChars: env.INPUT_MAX_CHARS,
      maxPartBytes: env.INPUT_MAX_PART_BYTES,
      moderation:
        env.MODERATION_URL === undefined
          ? undefined
          : { url: env.MODERATION_URL, apiKey: env.MODERATION_API_KEY, model: env.MODERATION_MODEL },
      files: {
        allowedOrigins: env.FILE_URL_ALLOWLIST,
        allowedTypes: env.FILE_ALLOWED_TYPES.map((type) => type.toLowerCase().replace(/^\./, '')),
        maxBytes: env.FILE_MAX_BYTES,
      },
    },
    orphanTimeoutMs: env.ORPHAN_TIMEOUT_SECONDS * 1000,
    limits: {
      appPerMinute: env.RATE_LIMIT_APP_PER_MINUTE,
      keyPerMinute: env.RATE_LIMIT_KEY_PER_MINUTE,
      concurrentRunsPerApp: env.MAX_CONCURRENT_RUNS_PER_APP,
      activeRunsPerInstance: env.MAX_ACTIVE_RUNS,
    },
    consoleDir: path.resolve(env.CONSOLE_DIR),
    logLevel: env.LOG_LEVEL,
    logFile:
      env.LOG_FILE === undefined
        ? undefined
        : {
            path: path.resolve(env.LOG_FILE),
            maxSize: env.LOG_FILE_MAX_SIZE.toLowerCase(),
            retentionDays: env.LOG_FILE_RETENTION_DAYS,
          },
    eventSinkUrl: env.EVENT_SINK_URL,
    tracing:
      env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
        ? undefined
        : { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, captureContent: env.OTEL_GENAI_CAPTURE_CONTENT },
  });
}

/** SECRETS_KEY as 32 bytes: 64 hex digits, or base64 / base64url of 32 bytes; undefined if it is neither. */
export function parseSecretsKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed, /[-_]/.test(trimmed) ? 'base64url' : 'base64');
  return bytes.length === 32 ? bytes : undefined;
}
