import { Validator } from '@seriousme/openapi-schema-validator';
import type { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenApiDocument } from '../src/transport/http/openapi.ts';
import {
  astronChunkSchema,
  astronCompletionSchema,
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
  openaiModelsSchema,
  runReadSchema,
  usageReportSchema,
} from '../src/transport/http/openapi-schemas.ts';
import { postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

type Operation = { parameters?: Array<{ name: string; in: string }>; requestBody?: unknown };
type Document = Record<string, unknown> & {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

const auth = { authorization: 'Bearer sk-demo' };
const question = { messages: [{ role: 'user', content: 'hi' }] };

describe('GET /openapi.json', () => {
  let server: TestApp;
  let document: Document;
  beforeAll(async () => {
    server = await startTestApp({ name: 'sqlite', databaseUrl: undefined, redisUrl: undefined });
    document = (await (await fetch(`${server.url}/openapi.json`)).json()) as Document;
  });
  afterAll(async () => {
    await server.close();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document).toMatchObject({ openapi: expect.stringMatching(/^3\.1\./) });
  });

  it('lists the REST routes, tRPC procedures, request schemas, SSE frames and error codes', () => {
    const paths = Object.keys(document.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/agent/v1/chat/completions',
        '/agent/v1/chats/{chat_id}/messages',
        '/agent/v1/usage',
        '/agent/v1/runs/{run_id}',
        '/tools/calculator',
        '/v1/chat/completions',
        '/v1/models',
        '/health',
        '/openapi.json',
        '/docs',
        '/trpc/chat.completions',
        '/trpc/chat.runs.create',
        '/trpc/admin.apps.create',
      ]),
    );
    const astron = document.paths['/agent/v1/chat/completions']?.post as Record<string, any>;
    expect(astron.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/AstronChatRequest',
    });
    expect(astron.responses['200'].content['text/event-stream']['x-sse-frame']).toEqual({
      $ref: '#/components/schemas/AstronChunk',
    });
    expect(astron.responses['400']['x-error-codes']).toEqual([1001]);
    expect(astron.responses['500']['x-error-codes']).toEqual(expect.arrayContaining([1004, 1006]));
    const request = document.components.schemas.AstronChatRequest as { required: string[] };
    expect(request.required).toEqual(expect.arrayContaining(['bot_id', 'uid', 'parameters']));
    const mutation = document.paths['/trpc/chat.runs.create']?.post as Record<string, any>;
    expect(mutation.requestBody.content['application/json'].schema.properties.json.required).toEqual(
      expect.arrayContaining(['bot_id']),
    );
  });

  it('every documented operation is served (none answers "No route")', async () => {
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations)) {
        const url = `${server.url}${path.replace(/\{[^}]+\}/g, 'x')}`;
        const response = await fetch(url, {
          method: method.toUpperCase(),
          headers: { ...auth, 'content-type': 'application/json' },
          ...(method === 'post' ? { body: '{}' } : {}),
          signal: AbortSignal.timeout(5_000),
        });
        const text = await response.text();
        expect(`${method} ${path}: ${text.includes('No route for') ? 'not served' : 'served'}`).toBe(
          `${method} ${path}: served`,
        );
      }
    }
  });

  it('a route without documentation stops the server at start', () => {
    expect(() =>
      createOpenApiDocument({ routes: [{ method: 'GET', path: '/undocumented' }], procedures: [], version: '0' }),
    ).toThrow(/GET \/undocumented has no entry/);
  });

  it('the answers of the routes match the documented response schemas', async () => {
    const check = (schema: z.ZodType, body: unknown) => {
      const result = schema.safeParse(body);
      expect(result.error?.issues ?? []).toEqual([]);
    };
    const astron = { bot_id: 'demo-bot', uid: 'u', chat_id: 'openapi-chat', parameters: question };
    const whole = (await (await postJson(`${server.url}/agent/v1/chat/completions`, astron, auth)).json()) as {
      id: string;
    };
    check(astronCompletionSchema, whole);
    const streamed = await readSse(
      await postJson(`${server.url}/agent/v1/chat/completions`, { ...astron, stream: true }, auth),
    );
    for (const frame of streamed.data.filter((data) => data !== '[DONE]')) check(astronChunkSchema, JSON.parse(frame));
    const openai = { model: 'demo-bot', messages: question.messages };
    check(openaiCompletionSchema, await (await postJson(`${server.url}/v1/chat/completions`, openai, auth)).json());
    const openaiStream = await readSse(
      await postJson(`${server.url}/v1/chat/completions`, { ...openai, stream: true }, auth),
    );
    for (const frame of openaiStream.data.filter((data) => data !== '[DONE]'))
      check(openaiChunkSchema, JSON.parse(frame));
    const get = async (path: string) => (await fetch(`${server.url}${path}`, { headers: auth })).json();
    check(openaiModelsSchema, await get('/v1/models'));
    check(historySchema, await get('/agent/v1/chats/openapi-chat/messages'));
    check(usageReportSchema, await get('/agent/v1/usage'));
    check(runReadSchema, await get(`/agent/v1/runs/${whole.id}`));
    check(healthSchema, await get('/health'));
    check(livenessSchema, await get('/health/live'));
    check(readinessSchema, await get('/health/ready'));
    check(openaiModelSchema, await get('/v1/models/demo-bot'));
    check(chatListSchema, await get('/agent/v1/chats?uid=u'));
    check(runListSchema, await get('/agent/v1/runs'));
    check(
      calculatorResponseSchema,
      await (await postJson(`${server.url}/tools/calculator`, { expression: '2*(3+4)' })).json(),
    );
  });
});
