import { spawn } from 'node:child_process';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { freePort, hasNatsServer, startNats, type NatsServer } from './support/child-services.ts';
import { eventually, postJson, readSse } from './support/sse.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

if (process.env.CI && !hasNatsServer) throw new Error('CI must have nats-server: the event sink test runs its own.');

type Event = { id: string; type: string; version: number; time: string; appId: string; runId: string; data: any };

/** Every message on ASTRON_EVENTS so far, read from the start with an ordered consumer. */
async function readStream(connection: NatsConnection): Promise<Event[]> {
  const manager = await jetstreamManager(connection);
  const { state } = await manager.streams.info('ASTRON_EVENTS');
  if (state.messages === 0) return [];
  const consumer = await jetstream(connection).consumers.get('ASTRON_EVENTS');
  const events: Event[] = [];
  const messages = await consumer.fetch({ max_messages: state.messages, expires: 2_000 });
  for await (const message of messages) {
    events.push(message.json<Event>());
    if (events.length === state.messages) break;
  }
  return events;
}

describe.runIf(hasNatsServer).each(testBackends())('run events on NATS JetStream, $name', (backend) => {
  let nats: NatsServer | undefined;
  let server: TestApp | undefined;
  let reader: NatsConnection | undefined;
  afterAll(async () => {
    await reader?.close();
    await server?.close();
    await nats?.close();
  });

  it('every event of runs across a broker restart arrives exactly once, in order per run', async () => {
    nats = await startNats(await freePort());
    server = await startTestApp(backend, { env: { EVENT_SINK_URL: nats.url, DEMO_MODEL_DELAY_MS: '20' } });
    const app = server;
    const ask = (botId: string, content: string) =>
      postJson(
        `${app.url}/agent/v1/chat/completions`,
        { bot_id: botId, uid: 'u', stream: true, parameters: { messages: [{ role: 'user', content }] } },
        { authorization: 'Bearer sk-demo' },
      );
    const runIdOf = (data: string[]) => (JSON.parse(data[0] as string) as { id: string }).id;

    // A first run while the broker is up.
    const first = runIdOf((await readSse(await ask('demo-bot', 'before'))).data);

    // A workflow run with the broker stopped mid-run: its events wait in the outbox.
    const response = await ask('demo-workflow', 'What happens when the broker goes away?');
    const reading = readSse(response);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await nats.stop();
    const second = runIdOf((await reading).data);
    const third = runIdOf((await readSse(await ask('demo-bot', 'while down'))).data);
    const health = await eventually(async () => {
      const answer = await fetch(`${app.url}/health/ready`);
      return answer.status === 503 ? ((await answer.json()) as { failing: string[] }) : undefined;
    }, 10_000);
    expect(health.failing).toContain('eventSink');

    await nats.start();
    reader = await connect({ servers: `127.0.0.1:${nats.port}` });
    const connection = reader;
    const events = await eventually(async () => {
      const seen = await readStream(connection).catch(() => []);
      return seen.filter((event) => event.type === 'usage.recorded').length >= 3 ? seen : undefined;
    }, 20_000);
    // Let any late duplicate publish land, then read again: still each id once.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const all = await readStream(connection);
    const ids = all.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(all.length).toBe(events.length);

    for (const runId of [first, second, third]) {
      const types = all.filter((event) => event.runId === runId).map((event) => event.type);
      expect(types[0]).toBe('run.started');
      expect(types.slice(-2)).toEqual(['run.finished', 'usage.recorded']);
    }
    const workflow = all.filter((event) => event.runId === second);
    expect(workflow.filter((event) => event.type === 'node.finished').map((event) => event.data.nodeType)).toContain(
      'llm',
    );
    const finished = workflow.find((event) => event.type === 'run.finished') as Event;
    expect(finished).toMatchObject({
      version: 1,
      appId: 'demo-app',
      data: { status: 'succeeded', finishReason: 'stop' },
    });
    expect(finished.data.usage.totalTokens).toBeGreaterThan(0);
    expect(Date.parse(finished.time)).toBeGreaterThan(0);

    // The relay marked everything sent: nothing piles up.
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    await eventually(async () => {
      const text = await (await fetch(`${app.url}/metrics`)).text();
      return /^astron_chat_event_sink_pending_events 0$/m.test(text) || undefined;
    }, 5_000);
    expect(metrics).toMatch(/^astron_chat_event_sink_failures_total [1-9]/m);

    // examples/usage-per-app.ts totals the usage events per app from the stream.
    const usage = all.filter((event) => event.type === 'usage.recorded');
    const expected = usage.reduce((sum, event) => sum + Number(event.data.totalTokens), 0);
    const example = spawn(process.execPath, ['--import', 'tsx', 'examples/usage-per-app.ts'], {
      env: { ...process.env, NATS_URL: nats.url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    example.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    try {
      const totals = await eventually(() => {
        const lines = output.trim().split('\n').filter(Boolean);
        const last = lines.length >= usage.length ? lines.at(-1) : undefined;
        return Promise.resolve(
          last ? (JSON.parse(last) as Record<string, { runs: number; totalTokens: number }>) : undefined,
        );
      }, 20_000);
      expect(totals['demo-app']).toMatchObject({ runs: usage.length, totalTokens: expected });
    } finally {
      example.kill();
    }
  }, 60_000);

  it('writes no outbox rows without a sink', async () => {
    const app = await startTestApp(backend);
    try {
      const { data } = await readSse(
        await postJson(
          `${app.url}/agent/v1/chat/completions`,
          {
            bot_id: 'demo-workflow',
            uid: 'u',
            stream: true,
            parameters: { messages: [{ role: 'user', content: 'Hi?' }] },
          },
          { authorization: 'Bearer sk-demo' },
        ),
      );
      const runId = (JSON.parse(data[0] as string) as { id: string }).id;
      const rows = await app.app.database.db
        .selectFrom('event_outbox')
        .select('id')
        .where('id', 'like', `${runId}.%`)
        .execute();
      expect(rows).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
