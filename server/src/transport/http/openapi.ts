import {
  astronChatRequestSchema,
  chatEventSchema,
  errorTable,
  openaiChatRequestSchema,
  type ErrorName,
} from '@astron-chat/shared';
import { z } from 'zod';
import { calculatorRequestSchema } from '../tools/calculator.route.ts';
import {
  astronChunkSchema,
  astronCompletionSchema,
  astronErrorSchema,
  calculatorResponseSchema,
  chatListSchema,
  healthSchema,
  historySchema,
  livenessSchema,
  openaiModelSchema,
  readinessSchema,
  runListSchema,
  openaiChunkSchema,
  openaiCompletionSchema,
  openaiErrorSchema,
  openaiModelsSchema,
  runReadSchema,
  usageReportSchema,
} from './openapi-schemas.ts';

type JsonObject = Record<string, unknown>;
type Format = 'astron' | 'openai';

/** What the document says about one route of the route table. */
type RouteDoc = {
  summary: string;
  description?: string;
  tag: string;
  format: Format;
  security: 'key' | 'none';
  query?: Record<string, { schema: JsonObject; description: string }>;
  body?: string;
  /** Component name of the JSON answer; `sse` names the frame of a `stream: true` answer. */
  ok?: { json?: string; sse?: string; text?: string; html?: boolean; description: string };
  errors: ErrorName[];
};

const RUN_ERRORS: ErrorName[] = [
  'VALIDATION_ERROR',
  'AUTHENTICATION_ERROR',
  'FORBIDDEN',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMIT_ERROR',
  'OVERLOADED',
  'WORKFLOW_ERROR',
  'UPSTREAM_ERROR',
  'TIMEOUT_ERROR',
  'UNKNOWN_ERROR',
];
const READ_ERRORS: ErrorName[] = [
  'VALIDATION_ERROR',
  'AUTHENTICATION_ERROR',
  'FORBIDDEN',
  'NOT_FOUND',
  'UNKNOWN_ERROR',
];

const RESUMABLE_NOTE =
  ' Header `x-astron-resumable: true` (with `stream: true`) starts a run that outlives the connection ' +
  '(`x-astron-run-id`, frames with `id:`); then `Idempotency-Key: <key>` makes a retried POST attach to the run ' +
  'the key started (replayed, or after `Last-Event-ID`) instead of starting another.';

/** Keyed `METHOD path` exactly as in the route table; a route without an entry stops the server at start. */
const ROUTE_DOCS: Record<string, RouteDoc> = {
  'POST /agent/v1/chat/completions': {
    summary: 'Astron chat completion (JSON or SSE)',
    description:
      'Runs the bot. `"stream": true` answers `text/event-stream`: one `data:` Astron chunk per frame, then ' +
      '`data: [DONE]`; an error after the stream started is its last frame (`code` ≠ 0). `meta_data.caller_sid` ' +
      'names the caller session in the run record.' +
      RESUMABLE_NOTE,
    tag: 'Astron',
    format: 'astron',
    security: 'key',
    body: 'AstronChatRequest',
    ok: { json: 'AstronCompletion', sse: 'AstronChunk', description: 'The answer, whole or streamed.' },
    errors: RUN_ERRORS,
  },
  'GET /agent/v1/chats/{chat_id}/messages': {
    summary: 'A page of a chat’s messages, newest last',
    tag: 'Astron',
    format: 'astron',
    security: 'key',
    query: {
      limit: { schema: { type: 'integer', minimum: 1, maximum: 200 }, description: 'Messages per page.' },
      before: { schema: { type: 'string' }, description: '`next_before` of the page after this one.' },
    },
    ok: { json: 'History', description: 'The page.' },
    errors: READ_ERRORS,
  },
  'GET /agent/v1/usage': {
    summary: 'Token usage of the caller’s app by UTC day, bot and key',
    tag: 'Astron',
    format: 'astron',
    security: 'key',
    query: {
      from: { schema: { type: 'string', format: 'date' }, description: 'First day, `YYYY-MM-DD` (inclusive).' },
      to: { schema: { type: 'string', format: 'date' }, description: 'Last day, `YYYY-MM-DD` (inclusive).' },
    },
    ok: { json: 'UsageReport', description: 'Usage per day.' },
    errors: READ_ERRORS,
  },
  'GET /agent/v1/chats': {
    summary: 'A user’s chats, most recently updated first',
    tag: 'Astron',
    format: 'astron',
    security: 'key',
    query: {
      uid: { schema: { type: 'string' }, description: 'Whose chats (required).' },
      limit: { schema: { type: 'integer', minimum: 1, maximum: 200 }, description: 'Chats per page.' },
      before: { schema: { type: 'string' }, description: '`next_before` of the previous page.' },
    },
    ok: { json: 'ChatList', description: 'The page.' },
    errors: READ_ERRORS,
  },
  'GET /agent/v1/runs': {
    summary: 'The app’s finished runs, newest first',
    tag: 'Runs',
    format: 'astron',
    security: 'key',
    query: {
      limit: { schema: { type: 'integer', minimum: 1, maximum: 200 }, description: 'Runs per page.' },
      before: { schema: { type: 'string' }, description: '`next_before` of the previous page.' },
    },
    ok: { json: 'RunList', description: 'The page.' },
    errors: READ_ERRORS,
  },
  'GET /agent/v1/runs/{run_id}': {
    summary: 'A run with its status, usage and workflow node runs',
    tag: 'Runs',
    format: 'astron',
    security: 'key',
    ok: { json: 'RunRead', description: 'The run.' },
    errors: READ_ERRORS,
  },
  'GET /agent/v1/runs/{run_id}/stream': {
    summary: 'Resume a run’s stream (Last-Event-ID or ?after_seq), in the framing of the route that started it',
    description:
      'Replays what came after `Last-Event-ID: <run_id>:<seq>` (or `?after_seq=N`), then follows live; ends with `[DONE]`. Frames carry `id:`. OpenAI chunks for runs started on `/v1`. A browser `EventSource` (no headers) authenticates with `?follow_token=`, the `x-astron-follow-token` of the response that started the run.',
    tag: 'Runs',
    format: 'astron',
    security: 'key',
    query: {
      after_seq: {
        schema: { type: 'integer', minimum: -1 },
        description: 'Resume after this seq (Last-Event-ID wins).',
      },
      include_usage: { schema: { type: 'boolean' }, description: 'OpenAI runs: send the usage chunk.' },
      follow_token: {
        schema: { type: 'string' },
        description: 'Instead of the API key: reads this run only, expires, dies with the key that started it.',
      },
    },
    ok: { sse: 'AstronChunk', description: 'The run’s frames.' },
    errors: READ_ERRORS,
  },
  'POST /tools/calculator': {
    summary: 'The demo agent’s calculator tool',
    description: 'Numbers, `+ - * /` and parentheses; never evaluates code.',
    tag: 'Tools',
    format: 'astron',
    security: 'none',
    body: 'CalculatorRequest',
    ok: { json: 'CalculatorResponse', description: 'The result.' },
    errors: ['VALIDATION_ERROR', 'PAYLOAD_TOO_LARGE'],
  },
  'POST /v1/chat/completions': {
    summary: 'OpenAI-compatible chat completion (`model` is a bot id)',
    description:
      'Any OpenAI SDK works unmodified. `stream: true` answers OpenAI chunks, then `data: [DONE]`.' + RESUMABLE_NOTE,
    tag: 'OpenAI',
    format: 'openai',
    security: 'key',
    body: 'OpenAIChatRequest',
    ok: { json: 'OpenAICompletion', sse: 'OpenAIChunk', description: 'The answer, whole or streamed.' },
    errors: RUN_ERRORS,
  },
  'GET /v1/models': {
    summary: 'The caller’s bots as OpenAI models',
    tag: 'OpenAI',
    format: 'openai',
    security: 'key',
    ok: { json: 'OpenAIModels', description: 'The list.' },
    errors: ['AUTHENTICATION_ERROR', 'FORBIDDEN', 'UNKNOWN_ERROR'],
  },
  'GET /v1/models/{model_id}': {
    summary: 'One of the caller’s bots as an OpenAI model',
    tag: 'OpenAI',
    format: 'openai',
    security: 'key',
    ok: { json: 'OpenAIModel', description: 'The model.' },
    errors: ['AUTHENTICATION_ERROR', 'FORBIDDEN', 'NOT_FOUND', 'UNKNOWN_ERROR'],
  },
  'GET /health/live': {
    summary: 'Liveness: the process answers (never looks at a dependency)',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { json: 'Liveness', description: 'Live.' },
    errors: [],
  },
  'GET /health/ready': {
    summary: 'Readiness: 503 naming the failing checks',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { json: 'Readiness', description: '`ready`; 503 with `not_ready` and `failing`.' },
    errors: ['OVERLOADED'],
  },
  'GET /health': {
    summary: 'Health of the database (required) and cache (optional)',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { json: 'Health', description: '`ok` or `degraded`; 503 with the same body when `unavailable`.' },
    errors: ['OVERLOADED'],
  },
  'GET /metrics': {
    summary: 'Prometheus metrics',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { text: 'text/plain; version=0.0.4', description: 'Prometheus text format.' },
    errors: [],
  },
  'GET /openapi.json': {
    summary: 'This document',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { text: 'application/json', description: 'OpenAPI 3.1.' },
    errors: [],
  },
  'GET /docs': {
    summary: 'The live API reference (Swagger UI)',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { html: true, description: 'An HTML page.' },
    errors: [],
  },
  'GET /docs/{file}': {
    summary: 'A file of the API reference page (served from this server, no CDN)',
    tag: 'Operations',
    format: 'astron',
    security: 'none',
    ok: { text: 'application/octet-stream', description: 'The file.' },
    errors: ['NOT_FOUND'],
  },
};

/**
 * The OpenAPI 3.1 document of every route in the route table and every tRPC procedure, with the zod
 * schemas the routes validate with (requests) or that mirror the framers' types (responses; see
 * openapi-schemas.ts). Built once at start.
 */
export function createOpenApiDocument(options: {
  routes: ReadonlyArray<{ method: string; path: string }>;
  /** Every tRPC procedure (trpc-procedures.ts reads them from the router). */
  procedures: ReadonlyArray<{ path: string; type: string; inputs: unknown[] }>;
  version: string;
}): JsonObject {
  const registry = z.registry<{ id: string }>();
  const named: Record<string, z.ZodType> = {
    AstronChatRequest: astronChatRequestSchema,
    AstronCompletion: astronCompletionSchema,
    AstronChunk: astronChunkSchema,
    AstronError: astronErrorSchema,
    OpenAIChatRequest: openaiChatRequestSchema,
    OpenAICompletion: openaiCompletionSchema,
    OpenAIChunk: openaiChunkSchema,
    OpenAIError: openaiErrorSchema,
    OpenAIModels: openaiModelsSchema,
    History: historySchema,
    UsageReport: usageReportSchema,
    RunRead: runReadSchema,
    CalculatorRequest: calculatorRequestSchema,
    CalculatorResponse: calculatorResponseSchema,
    Health: healthSchema,
    Liveness: livenessSchema,
    Readiness: readinessSchema,
    ChatList: chatListSchema,
    RunList: runListSchema,
    OpenAIModel: openaiModelSchema,
    ChatEvent: chatEventSchema,
  };
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const schemas: JsonObject = {};
  for (const io of ['input', 'output'] as const) {
    const generated = z.toJSONSchema(registry, {
      io,
      target: 'draft-2020-12',
      unrepresentable: 'any',
      uri: (id) => `#/components/schemas/${id}`,
    }).schemas;
    for (const [id, schema] of Object.entries(generated)) {
      const isRequest = id.endsWith('Request');
      if ((io === 'input') === isRequest) schemas[id] = stripDialect(schema);
    }
  }

  const paths: Record<string, JsonObject> = {};
  for (const { method, path } of options.routes) {
    const doc = ROUTE_DOCS[`${method} ${path}`];
    if (!doc) throw new Error(`openapi: the route ${method} ${path} has no entry in ROUTE_DOCS (openapi.ts)`);
    (paths[path] ??= {})[method.toLowerCase()] = operation(`${method} ${path}`, path, doc);
  }
  for (const procedure of options.procedures) {
    (paths[`/trpc/${procedure.path}`] ??= {})[procedure.type === 'mutation' ? 'post' : 'get'] = trpcOperation(
      procedure.path,
      procedure.type,
      procedure.inputs,
    );
  }

  return {
    openapi: '3.1.1',
    info: {
      title: 'astron-chat',
      version: options.version,
      description:
        'Real-time chat completions for agents and workflows. The same core behind Astron REST, OpenAI REST, ' +
        'tRPC (HTTP, SSE and WebSocket at `/trpc`) and the plain WebSocket `/agent/v1/ws?appid&ts&signa` ' +
        '(`signa` = Base64(HMAC-SHA1(secret, hex MD5(appid + ts))), `ts` in seconds or milliseconds). ' +
        'Errors carry a code of one table: ' +
        Object.entries(errorTable)
          .map(([name, row]) => `${row.code} ${name} (HTTP ${row.httpStatus})`)
          .join(', ') +
        '. Demo mode accepts the key `sk-demo` and bot `demo-bot`.',
    },
    servers: [{ url: '/' }],
    tags: ['Astron', 'OpenAI', 'Runs', 'Tools', 'tRPC', 'Operations'].map((name) => ({ name })),
    components: {
      schemas,
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An API key of the app (`sk-demo` in demo mode).' },
        consumerHeader: {
          type: 'apiKey',
          in: 'header',
          name: 'x-consumer-username',
          description: 'The app id set by a trusted gateway (only when TRUST_CONSUMER_HEADER is on).',
        },
        adminToken: { type: 'apiKey', in: 'header', name: 'x-admin-token', description: 'ADMIN_TOKEN.' },
      },
    },
    paths,
  };
}

function operation(operationKey: string, path: string, doc: RouteDoc): JsonObject {
  const parameters = [
    ...[...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
    })),
    ...Object.entries(doc.query ?? {}).map(([name, query]) => ({
      name,
      in: 'query',
      required: false,
      schema: query.schema,
      description: query.description,
    })),
  ];
  const content: JsonObject = {};
  if (doc.ok?.json) content['application/json'] = { schema: ref(doc.ok.json) };
  if (doc.ok?.sse) content['text/event-stream'] = sseContent(doc.ok.sse, 'a JSON `' + doc.ok.sse + '`');
  if (doc.ok?.text) content[doc.ok.text] = { schema: { type: 'string' } };
  if (doc.ok?.html) content['text/html'] = { schema: { type: 'string' } };
  return {
    operationId: operationKey.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, ''),
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: [doc.tag],
    security: doc.security === 'key' ? [{ apiKey: [] }, { consumerHeader: [] }] : [],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(doc.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: ref(doc.body) } } } }
      : {}),
    responses: { 200: { description: doc.ok?.description ?? 'OK', content }, ...errorResponses(doc) },
  };
}

/** One response per HTTP status, listing every code of the table the route can answer with it. */
function errorResponses(doc: { errors: ErrorName[]; format: Format }): JsonObject {
  const byStatus = new Map<number, ErrorName[]>();
  for (const name of doc.errors) {
    const status = errorTable[name].httpStatus;
    byStatus.set(status, [...(byStatus.get(status) ?? []), name]);
  }
  const responses: JsonObject = {};
  for (const [status, names] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = {
      description: names.map((name) => `${errorTable[name].code} ${name}`).join('; '),
      'x-error-codes': names.map((name) => errorTable[name].code),
      ...(names.some((name) => errorTable[name].retryable)
        ? {
            headers: {
              'retry-after': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
            },
          }
        : {}),
      content: { 'application/json': { schema: ref(doc.format === 'openai' ? 'OpenAIError' : 'AstronError') } },
    };
  }
  return responses;
}

function sseContent(frame: string, data: string): JsonObject {
  return {
    schema: { type: 'string', description: `Server-sent events; each \`data:\` line is ${data}.` },
    'x-sse-frame': ref(frame),
  };
}

/** tRPC over HTTP: superjson on the wire (`{"json": <input>}`); subscriptions are SSE (or the `/trpc` WebSocket). */
function trpcOperation(path: string, type: string, inputs: unknown[]): JsonObject {
  const input = inputs
    .filter((parser): parser is z.ZodType => parser instanceof z.ZodType)
    .map((parser) => stripDialect(z.toJSONSchema(parser, { io: 'input', unrepresentable: 'any' })));
  const inputSchema = input.length === 0 ? {} : input.length === 1 ? input[0] : { allOf: input };
  const wire = { type: 'object', properties: { json: inputSchema }, required: ['json'] };
  const isAdmin = path.startsWith('admin.');
  const base = {
    operationId: `trpc_${path.replace(/\./g, '_')}`,
    summary: `tRPC ${type} \`${path}\``,
    tags: ['tRPC'],
    security: isAdmin ? [{ adminToken: [] }] : [{ apiKey: [] }],
  };
  const errors = errorResponses({
    errors: isAdmin ? ['VALIDATION_ERROR', 'AUTHENTICATION_ERROR', 'FORBIDDEN', 'NOT_FOUND'] : READ_ERRORS,
    format: 'astron',
  });
  const trpcError = { description: 'A tRPC error; `error.json.data.appCode` is the code of the error table.' };
  const answers = Object.fromEntries(Object.keys(errors).map((status) => [status, trpcError]));
  if (type === 'mutation') {
    return {
      ...base,
      requestBody: { required: true, content: { 'application/json': { schema: wire } } },
      responses: { 200: { description: '`{"result":{"data":{"json": …}}}`' }, ...answers },
    };
  }
  const parameters = [
    {
      name: 'input',
      in: 'query',
      required: input.length > 0,
      description: 'The input as superjson JSON text: `{"json": …}`.',
      content: { 'application/json': { schema: wire } },
    },
  ];
  if (type === 'subscription') {
    return {
      ...base,
      description:
        'Server-sent events (`httpSubscriptionLink`); each `data:` is a tracked `ChatEvent`, `id` is `runId:seq`.',
      parameters,
      responses: {
        200: {
          description: 'The stream.',
          content: { 'text/event-stream': sseContent('ChatEvent', 'a superjson `ChatEvent`') },
        },
        ...answers,
      },
    };
  }
  return { ...base, parameters, responses: { 200: { description: '`{"result":{"data":{"json": …}}}`' }, ...answers } };
}

function ref(name: string): JsonObject {
  return { $ref: `#/components/schemas/${name}` };
}

/** Component schemas live in the document's dialect; their own `$schema` would only repeat it. */
function stripDialect(schema: unknown): JsonObject {
  const { $schema: _dialect, ...rest } = schema as JsonObject;
  return rest;
}
