import { createAdminClient } from '@astron-chat/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ADMIN_TOKEN } from '../src/config/config.ts';
import { testBackends } from './support/backends.ts';
import { eventually, postJson, readFrames, type SseFrame } from './support/sse.ts';
import { createTenant } from './support/tenants.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const demoKey = { authorization: 'Bearer sk-demo' };
const question = 'please resume this answer '.repeat(6);

/** The answer text of Astron frames or OpenAI chunks (the delta has the same place in both). */
const answerText = (frames: SseFrame[]) =>
  frames
    .filter((frame) => frame.data !== '[DONE]')
    .map((frame) => JSON.parse(frame.data).choices?.[0]?.delta?.content ?? '')
    .join('');

describe.each(testBackends())('resumable REST streams on $name', (backend) => {
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp(backend, { env: { DEMO_MODEL_DELAY_MS: '25', ORPHAN_TIMEOUT_SECONDS: '2' } });
  });
  afterAll(async () => {
    await server.close();
  });

  const storedAnswer = async (runId: string) => {
    const run = await eventually(() =>
      server.app.database.db
        .selectFrom('runs')
        .select(['status', 'chat_id'])
        .where('id', '=', runId)
        .where('status', '!=', 'running')
        .executeTakeFirst(),
    );
    return run.status;
  };
  const seqsOf = (frames: SseFrame[], runId: string) =>
    frames.flatMap((frame) => (frame.id === undefined ? [] : [Number(frame.id.slice(runId.length + 1))]));
  /** The whole run as a reader from its start gets it, once it has ended. */
  const fullReplay = async (runId: string) =>
    readFrames(await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, { headers: demoKey }));

  it('Astron: a stream cut mid-answer resumes by Last-Event-ID with no event lost or repeated', async () => {
    const body = {
      bot_id: 'demo-bot',
      uid: 'u',
      stream: true,
      parameters: { messages: [{ role: 'user', content: question }] },
    };
    const first = await postJson(`${server.url}/agent/v1/chat/completions`, body, {
      ...demoKey,
      'x-astron-resumable': 'true',
    });
    expect(first.status).toBe(200);
    const runId = first.headers.get('x-astron-run-id')!;
    expect(runId).toMatch(/^run_/);
    const before = await readFrames(first, 4);
    expect(before.every((frame) => frame.id?.startsWith(`${runId}:`))).toBe(true);
    // The connection is gone; the run goes on (here past the time it takes to notice).
    await new Promise((resolve) => setTimeout(resolve, 300));

    const followers = await Promise.all(
      [0, 1].map(async () => {
        const response = await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, {
          headers: { ...demoKey, 'last-event-id': before.at(-1)!.id! },
        });
        expect(response.status).toBe(200);
        expect(response.headers.get('x-astron-run-id')).toBe(runId);
        return readFrames(response);
      }),
    );
    const full = await fullReplay(runId);
    for (const after of followers) {
      expect(after.at(-1)!.data).toBe('[DONE]');
      // Every frame once, in order: what the cut stream got plus the resume is the whole run.
      expect([...before, ...after]).toEqual(full);
      const text = answerText([...before, ...after]);
      expect(text).toContain('You said:');
      expect(text).toContain(question.trim().slice(-20));
    }
    expect(await storedAnswer(runId)).toBe('succeeded');

    // A late reader replays everything from the start (after_seq=-1 is the default).
    const replay = await readFrames(
      await fetch(`${server.url}/agent/v1/runs/${runId}/stream?after_seq=2`, { headers: demoKey }),
    );
    expect(seqsOf(replay, runId)[0]).toBe(3);
    expect(replay.at(-1)!.data).toBe('[DONE]');
  });

  it('OpenAI: resumes in OpenAI chunks, and only for the run’s own app', async () => {
    const response = await postJson(
      `${server.url}/v1/chat/completions`,
      { model: 'demo-bot', stream: true, messages: [{ role: 'user', content: question }] },
      { ...demoKey, 'x-astron-resumable': 'true' },
    );
    const runId = response.headers.get('x-astron-run-id')!;
    const before = await readFrames(response, 3);
    const rest = await readFrames(
      await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, {
        headers: { ...demoKey, 'last-event-id': before.at(-1)!.id! },
      }),
    );
    const chunks = rest.filter((frame) => frame.data !== '[DONE]').map((frame) => JSON.parse(frame.data));
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.id === `chatcmpl-${runId}`)).toBe(
      true,
    );
    expect(chunks[0].model).toBe('demo-bot');
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(rest.at(-1)!.data).toBe('[DONE]');
    expect(answerText([...before, ...rest])).toContain('You said:');
    expect([...before, ...rest]).toEqual(await fullReplay(runId));

    const stranger = await createTenant(server.url, 'resume');
    const refused = await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, {
      headers: { authorization: `Bearer ${stranger.apiKey}` },
    });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { code: number }).code).toBe(1008);
    const wrongRun = await fetch(`${server.url}/agent/v1/runs/${runId}/stream`, {
      headers: { ...demoKey, 'last-event-id': 'run_other:3' },
    });
    expect(wrongRun.status).toBe(400);
  });

  it('a follow token (for a browser EventSource, which sends no headers) reads its own run only, and dies with its key', async () => {
    const tenant = await createTenant(server.url, 'follow');
    const start = (key: string, botId: string) =>
      postJson(
        `${server.url}/agent/v1/chat/completions`,
        { bot_id: botId, uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content: 'hello there' }] } },
        { authorization: `Bearer ${key}`, 'x-astron-resumable': 'true' },
      );
    const response = await start(tenant.apiKey, tenant.botId);
    const runId = response.headers.get('x-astron-run-id')!;
    const token = response.headers.get('x-astron-follow-token')!;
    expect(token).toMatch(/^ft1\./);
    expect(token).not.toContain(tenant.apiKey);
    const first = await readFrames(response, 2);
    const follow = (id: string, followToken: string) =>
      fetch(`${server.url}/agent/v1/runs/${id}/stream?follow_token=${encodeURIComponent(followToken)}`, {
        headers: { 'last-event-id': `${id}:${first.at(-1)!.id!.split(':').pop()}` },
      });
    const rest = await follow(runId, token);
    expect(rest.status).toBe(200);
    const after = await readFrames(rest);
    expect(after.at(-1)!.data).toBe('[DONE]');
    expect(answerText([...first, ...after])).toContain('hello there');

    const refusedWith = async (answer: Response, pattern: RegExp) => {
      expect(answer.status).toBe(401);
      const body = (await answer.json()) as { code: number; message: string };
      expect(body.code).toBe(1002);
      expect(body.message).toMatch(pattern);
    };
    // Another run (of another app, or the same app): the token reads nothing but its own.
    const other = await start('sk-demo', 'demo-bot');
    const otherRunId = other.headers.get('x-astron-run-id')!;
    await readFrames(other);
    await refusedWith(await follow(otherRunId, token), /not valid for this run/);
    const forged = token.replace(/\.(\d+)\./, (_, expires: string) => `.${Number(expires) + 3600}.`);
    await refusedWith(await follow(runId, forged), /not valid for this run/);
    await refusedWith(await follow(runId, 'sk-demo'), /malformed/);
    // It expires once the run can no longer be streaming (RUN_TIMEOUT_SECONDS + ORPHAN_TIMEOUT_SECONDS).
    await expect(
      server.app.dependencies.authenticator.authenticateFollowToken(token, runId, Date.now() + 603_000),
    ).rejects.toThrow(/expired/);
    // Revoking the key that started the run ends its follow tokens at once.
    const admin = createAdminClient({ url: server.url, adminToken: DEMO_ADMIN_TOKEN });
    await admin.admin.keys.revoke.mutate({ appId: tenant.appId, keyId: tenant.apiKeyId });
    await refusedWith(await follow(runId, token), /revoked/);
  });

  it('without the header, leaving the stream cancels the run at once, as before', async () => {
    const response = await postJson(
      `${server.url}/agent/v1/chat/completions`,
      { bot_id: 'demo-bot', uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content: question }] } },
      demoKey,
    );
    expect(response.headers.get('x-astron-run-id')).toBeNull();
    const before = await readFrames(response, 2);
    expect(before[0]!.id).toBeUndefined();
    const runId = (JSON.parse(before[0]!.data) as { id: string }).id;
    expect(await storedAnswer(runId)).toBe('cancelled');
  });
});
