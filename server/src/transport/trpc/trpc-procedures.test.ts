import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../test/support/test-app.ts';
import { createAppRouter } from './trpc.router.ts';
import { createTrpcProcedures, type TrpcProcedures } from './trpc-procedures.ts';
import type { TrpcContext } from './trpc-context.ts';

/**
 * Pins the tRPC seam (trpc-procedures.ts) against the real router: what it reads from tRPC's
 * private `_def` and the helpers it calls. A tRPC upgrade that changes them fails here.
 */
describe('the tRPC seam', () => {
  let server: TestApp;
  let procedures: TrpcProcedures;
  const context = (apiKey?: string): TrpcContext => ({
    requestId: 'req-seam',
    credentials: { apiKey, consumer: undefined },
    signature: undefined,
    adminToken: undefined,
    openedAt: Date.now(),
  });

  beforeAll(async () => {
    server = await startTestApp({ name: 'sqlite', databaseUrl: undefined, redisUrl: undefined });
    procedures = createTrpcProcedures(createAppRouter(server.app.dependencies));
  });
  afterAll(() => server.close());

  it('knows the type of every procedure by its dotted path', () => {
    expect(procedures.typeOf('chat.completions')).toBe('subscription');
    expect(procedures.typeOf('chat.runs.stream')).toBe('subscription');
    expect(procedures.typeOf('chat.history')).toBe('query');
    expect(procedures.typeOf('chat.runs.cancel')).toBe('mutation');
    expect(procedures.typeOf('chat')).toBeUndefined();
    expect(procedures.typeOf('no.such.procedure')).toBeUndefined();
  });

  it('lists every procedure with its input parsers, for the OpenAPI document', () => {
    const listed = procedures.list();
    expect(listed.find((procedure) => procedure.path === 'chat.completions')).toMatchObject({ type: 'subscription' });
    const cancel = listed.find((procedure) => procedure.path === 'chat.runs.cancel');
    expect(cancel?.type).toBe('mutation');
    // The zod schema given to `.input()`: the OpenAPI document describes the request with it.
    expect(cancel?.inputs.length).toBeGreaterThan(0);
    expect(typeof (cancel?.inputs[0] as { safeParse?: unknown }).safeParse).toBe('function');
  });

  it('reads the router config: our transformer and the SSE client options', () => {
    const when = new Date('2026-12-02T10:00:00Z');
    const text = procedures.serialize({ when, big: 10n });
    expect(procedures.deserialize(JSON.parse(text))).toEqual({ when, big: 10n });
    expect(typeof procedures.transformer.input.deserialize).toBe('function');
    expect(procedures.sseClientOptions).toEqual({
      reconnectAfterInactivityMs: server.app.dependencies.config.pingIntervalMs * 2,
    });
  });

  it('calls a procedure through its middlewares, and shapes errors with our formatter', async () => {
    const signal = new AbortController().signal;
    const call = (apiKey?: string) =>
      procedures.call({ path: 'chat.usage', type: 'query', input: undefined, ctx: context(apiKey), signal });
    await expect(call('sk-demo')).resolves.toMatchObject({ appId: 'demo-app' });

    const failure = await call('sk-wrong').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TRPCError);
    const shape = procedures.errorShape({
      cause: failure,
      ctx: context('sk-wrong'),
      input: undefined,
      path: 'chat.usage',
      type: 'query',
    });
    expect(shape).toMatchObject({ code: -32001, data: { code: 'UNAUTHORIZED', appCode: 1002, path: 'chat.usage' } });
    expect(JSON.stringify(shape)).not.toContain('stack');
  });
});
