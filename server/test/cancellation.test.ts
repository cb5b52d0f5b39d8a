import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testBackends } from './support/backends.ts';
import { startFakeUpstream, usingUpstream, type FakeUpstream } from './support/fake-upstream.ts';
import { eventually, postJson } from './support/sse.ts';
import { rawTrpcSocket } from './support/raw-sockets.ts';
import { demoWebSocketUrl, startTestApp, type TestApp } from './support/test-app.ts';

const slowAnswer = { chunks: Array.from({ length: 40 }, (_, index) => `w${index} `), delayMs: 40 };
const upstreamQuestion = {
  bot_id: 'upstream-bot',
  uid: 'u',
  parameters: { messages: [{ role: 'user', content: 'go' }] },
};

/** Reads an SSE body until the first frame with content, then returns that frame. */
async function firstContentFrame(response: Response): Promise<Record<string, any>> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended before any content');
    buffer += decoder.decode(value, { stream: true });
    for (const block of buffer.split('\n\n').slice(0, -1)) {
      const frame = JSON.parse(block.slice('data: '.length)) as Record<string, any>;
      if (frame.choices?.[0]?.delta?.content) return frame;
    }
  }
}

describe.each(testBackends())('cancellation on $name', (backend) => {
  let server: TestApp;
  let upstream: FakeUpstream;
  const runStatus = (runId: string) =>
    eventually(async () => {
      const run = await server.app.database.db
        .selectFrom('runs')
        .select(['status', 'finish_reason'])
        .where('id', '=', runId)
        // A run's row exists from its start on (`running`): wait for its outcome.
        .where('status', '!=', 'running')
        .executeTakeFirst();
      return run;
    });

  beforeAll(async () => {
    upstream = await startFakeUpstream(slowAnswer);
    server = await startTestApp(backend, {
      env: { ORPHAN_TIMEOUT_SECONDS: '1', STREAM_MAX_BUFFERED_BYTES: '65536' },
      overrides: usingUpstream(upstream),
    });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  it.each([
    [
      'Astron REST',
      '/agent/v1/chat/completions',
      { bot_id: 'upstream-bot', uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content: 'go' }] } },
    ],
    [
      'OpenAI REST',
      '/v1/chat/completions',
      { model: 'upstream-bot', stream: true, messages: [{ role: 'user', content: 'go' }] },
    ],
  ])(
    '%s: a client that leaves mid-stream closes the upstream request and the run is cancelled',
    async (_name, path, body) => {
      upstream.script = slowAnswer;
      const controller = new AbortController();
      const ended = upstream.nextEnd();
      const response = await postJson(
        `${server.url}${path}`,
        body,
        { authorization: 'Bearer sk-demo' },
        controller.signal,
      );
      const frame = await firstContentFrame(response);
      const leftAt = Date.now();
      controller.abort();
      expect(await ended).toBe('closed-by-client');
      expect(Date.now() - leftAt).toBeLessThan(1_000);
      const runId = String(frame.id).replace(/^chatcmpl-/, '');
      expect(await runStatus(runId)).toEqual({ status: 'cancelled', finish_reason: 'cancelled' });
    },
  );

  it('a client that leaves before the first token closes the upstream request too', async () => {
    upstream.script = { ...slowAnswer, headerDelayMs: 3_000 };
    const controller = new AbortController();
    const ended = upstream.nextEnd();
    const requestsBefore = upstream.requests.length;
    const request = postJson(
      `${server.url}/v1/chat/completions`,
      { model: 'upstream-bot', stream: true, messages: [{ role: 'user', content: 'go' }] },
      { authorization: 'Bearer sk-demo' },
      controller.signal,
    ).catch(() => undefined);
    // This request's own arrival (an earlier test's request would make `at(-1)` true at once).
    await eventually(() => Promise.resolve(upstream.requests.length > requestsBefore));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const leftAt = Date.now();
    controller.abort();
    await request;
    expect(await ended).toBe('closed-by-client');
    expect(Date.now() - leftAt).toBeLessThan(1_000);
    upstream.script = slowAnswer;
  });

  it('plain WebSocket: {type:"cancel"} stops a run; a dropped socket loses nothing and an orphan is stopped', async () => {
    upstream.script = slowAnswer;
    const { socket, frames } = await openSocket();
    const firstEnded = upstream.nextEnd();
    socket.send(JSON.stringify({ request_id: 'r1', ...upstreamQuestion }));
    await eventually(() =>
      Promise.resolve(frames.some((frame) => frame.request_id === 'r1' && frame.choices[0].delta.content)),
    );
    socket.send(JSON.stringify({ type: 'cancel', request_id: 'r1' }));
    expect(await firstEnded).toBe('closed-by-client');
    const runId = String(frames.find((frame) => frame.request_id === 'r1')!.id);
    expect((await runStatus(runId)).status).toBe('cancelled');

    // The socket drops mid-run: the run goes on, and a new socket picks it up after the last frame seen.
    const secondEnded = upstream.nextEnd();
    socket.send(JSON.stringify({ request_id: 'r2', ...upstreamQuestion }));
    await eventually(() => Promise.resolve(frames.filter((frame) => frame.request_id === 'r2').length >= 3));
    socket.close();
    const seen = frames.filter((frame) => frame.request_id === 'r2');
    const lastSeq = Number(seen.at(-1)!.seq);
    const second = await openSocket();
    second.socket.send(
      JSON.stringify({ type: 'subscribe', run_id: seen[0]!.id, after_seq: lastSeq, request_id: 'again' }),
    );
    await eventually(() => Promise.resolve(second.frames.some((frame) => frame.choices?.[0]?.finish_reason)), 8_000);
    second.socket.close();
    // The subscriber's frames carry the starter's header, not stand-ins (empty model, join time).
    for (const frame of second.frames) {
      expect(frame).toMatchObject({ id: seen[0]!.id, model: seen[0]!.model, created: seen[0]!.created });
    }
    expect(seen[0]!.model).toBe('fake-model');
    const resumed = second.frames.map((frame) => Number(frame.seq));
    // Frames carry event seqs (usage events have no frame, so seqs may skip); none is repeated.
    expect(resumed[0]).toBe(lastSeq + 1);
    expect(resumed.every((seq, index) => index === 0 || seq > resumed[index - 1]!)).toBe(true);
    const text = [...seen, ...second.frames].map((frame) => frame.choices?.[0]?.delta?.content ?? '').join('');
    expect(text).toBe(slowAnswer.chunks.join(''));
    expect(await secondEnded).toBe('finished');

    // Nobody follows a run: the orphan timeout (1 s here) stops it and its upstream request.
    const third = await openSocket();
    const thirdEnded = upstream.nextEnd();
    third.socket.send(JSON.stringify({ request_id: 'r3', ...upstreamQuestion }));
    await eventually(() =>
      Promise.resolve(third.frames.some((frame) => frame.request_id === 'r3' && frame.choices[0].delta.content)),
    );
    third.socket.close();
    expect(await thirdEnded).toBe('closed-by-client');
  });

  it('closes an SSE response whose reader stops reading, instead of buffering without bound', async () => {
    upstream.script = { chunks: Array.from({ length: 600 }, () => 'x'.repeat(16_384)) };
    const ended = upstream.nextEnd();
    const startedAt = Date.now();
    const { port } = new URL(server.url);
    const body = JSON.stringify({ model: 'upstream-bot', stream: true, messages: [{ role: 'user', content: 'go' }] });
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-demo\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause(); // a reader that never reads
    await ended;
    const run = await eventually(
      () =>
        server.app.database.db
          .selectFrom('runs')
          .select(['status', 'finish_reason'])
          .where('transport', '=', 'openai')
          .where('created_at', '>=', startedAt)
          .where('status', '=', 'cancelled')
          .executeTakeFirst(),
      // A cancelled run waits up to 5 s for the usage of model calls still stopping before it is recorded.
      15_000,
    );
    expect(run).toEqual({ status: 'cancelled', finish_reason: 'cancelled' });
    socket.destroy();
    upstream.script = slowAnswer;
  });

  it('closes a tRPC WebSocket whose reader stops reading with 4008; the run goes on regardless', async () => {
    // A server of its own, with a long orphan timeout: with this file's 1 s, the run could be
    // stopped as an orphan (nobody follows it once its reader is closed) before it has read its
    // 10 MB answer on a busy machine. Orphans have a test of their own above.
    const patient = await startTestApp(backend, {
      env: { ORPHAN_TIMEOUT_SECONDS: '60', STREAM_MAX_BUFFERED_BYTES: '65536' },
      overrides: usingUpstream(upstream),
    });
    try {
      upstream.script = { chunks: Array.from({ length: 600 }, () => 'x'.repeat(16_384)) };
      const ended = upstream.nextEnd();
      const startedAt = Date.now();
      const starter = rawTrpcSocket(patient, 'chat.completions', upstreamQuestion);
      // The run is not tied to its reader: it reads its upstream answer to the end and is recorded.
      expect(await ended).toBe('finished');
      const run = await eventually(() =>
        patient.app.database.db
          .selectFrom('runs')
          .select(['id', 'status', 'finish_reason'])
          .where('transport', '=', 'trpc')
          .where('created_at', '>=', startedAt)
          .where('status', '!=', 'running')
          .executeTakeFirst(),
      );
      expect(run).toMatchObject({ status: 'succeeded', finish_reason: 'stop' });
      starter.destroy();
      // Replaying the whole run (about 10 MB) to a reader that never reads: the server sends what the
      // kernel takes, holds at most STREAM_MAX_BUFFERED_BYTES more, then closes the socket with 4008.
      const replay = rawTrpcSocket(patient, 'chat.runs.stream', { runId: run.id });
      const received: Buffer[] = [];
      await new Promise((resolve) => setTimeout(resolve, 200));
      replay.on('data', (bytes: Buffer) => received.push(bytes));
      replay.resume();
      const closeCode = await eventually(() => Promise.resolve(closeCodeIn(Buffer.concat(received))));
      expect(closeCode).toBe(4008);
      replay.destroy();
    } finally {
      upstream.script = slowAnswer;
      await patient.close();
    }
  });

  async function openSocket() {
    const socket = new WebSocket(demoWebSocketUrl(server));
    const frames: Array<Record<string, any>> = [];
    socket.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString()) as Record<string, any>));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return { socket, frames };
  }
});

/** The code of the first close frame in what the server sent after its upgrade response, if any. */
function closeCodeIn(bytes: Buffer): number | undefined {
  let offset = bytes.indexOf('\r\n\r\n') + 4;
  if (offset < 4) return undefined;
  while (offset + 2 <= bytes.length) {
    const opcode = bytes[offset]! & 0x0f;
    let length = bytes[offset + 1]! & 0x7f;
    let header = 2;
    if (length === 126) [length, header] = [bytes.readUInt16BE(offset + 2), 4];
    else if (length === 127) [length, header] = [Number(bytes.readBigUInt64BE(offset + 2)), 10];
    if (offset + header + length > bytes.length) return undefined;
    if (opcode === 0x8) return bytes.readUInt16BE(offset + header);
    offset += header + length;
  }
  return undefined;
}
