import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChatClient } from '@astron-chat/client';
import { afterAll, describe, expect, it } from 'vitest';
import { testBackends, type Backend } from './support/backends.ts';
import { eventually, postJson } from './support/sse.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const demoKey = { authorization: 'Bearer sk-demo' };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The real server in a child process of its own, as `npm run dev` runs it. */
async function startServer(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--conditions=astron-source', '--import', 'tsx', 'server/src/main.ts'], {
    cwd: root,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    const healthy = await fetch(`${url}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return { url, child };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the server did not become healthy');
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Reads an SSE response until its first frame with answer text; returns the run id. */
async function readUntilText(response: Response): Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended before any text');
    buffer += decoder.decode(value, { stream: true });
    for (const block of buffer.split('\n\n').slice(0, -1)) {
      if (!block.startsWith('data: {')) continue;
      const frame = JSON.parse(block.slice(6)) as { id: string; choices: Array<{ delta: { content?: string } }> };
      if (frame.choices[0]?.delta.content) return frame.id;
    }
  }
}

/** The environment of this file's servers on `backend` (a data folder of their own), killed after the tests. */
function serversOf(backend: Backend): { env: Record<string, string>; children: ChildProcess[] } {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ac-crash-'));
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    DEMO_MODE: '1',
    DEMO_MODEL_DELAY_MS: '150',
    ORPHAN_TIMEOUT_SECONDS: '1',
    DATABASE_URL: backend.databaseUrl ?? '',
    REDIS_URL: backend.redisUrl ?? '',
  };
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) await kill(child);
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { env, children };
}

describe.each(testBackends())('a process killed with SIGKILL on $name', (backend) => {
  const { env, children } = serversOf(backend);

  it('loses no accepted message or run: after a restart they are there, closed as interrupted', async () => {
    const first = await startServer(env);
    children.push(first.child);
    const chatId = `crash-${Math.random().toString(36).slice(2, 10)}`;
    // A REST stream and a run started through tRPC, both mid-answer when the process dies.
    const rest = await postJson(
      `${first.url}/agent/v1/chat/completions`,
      {
        bot_id: 'demo-bot',
        uid: 'victim',
        chat_id: chatId,
        stream: true,
        parameters: { messages: [{ role: 'user', content: 'a question the crash must not lose' }] },
      },
      demoKey,
    );
    const restRunId = await readUntilText(rest);
    const client = createChatClient({ url: first.url, transport: 'sse', apiKey: 'sk-demo' });
    const { runId: managedRunId } = await client.trpc.chat.runs.create.mutate({
      bot_id: 'demo-bot',
      uid: 'victim',
      chat_id: `${chatId}-managed`,
      parameters: { messages: [{ role: 'user', content: 'another question the crash must not lose' }] },
    });
    // Let the managed run log a few deltas (the demo model sends one every 150 ms).
    await new Promise((resolve) => setTimeout(resolve, 700));
    await kill(first.child);
    client.close();

    // The owner's heartbeat (1 s here) must lapse before another process may call its runs dead.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const second = await startServer(env);
    children.push(second.child);
    const readRun = async (runId: string) =>
      (await (await fetch(`${second.url}/agent/v1/runs/${runId}`, { headers: demoKey })).json()) as Record<string, any>;
    const readChat = async (id: string) =>
      (await (await fetch(`${second.url}/agent/v1/chats/${id}/messages`, { headers: demoKey })).json()) as {
        messages: Array<{ role: string; content: string; status: string }>;
      };

    // Any instance starting up closes what a dead one left: on the shared database of a test run that
    // may be another test's server, which then holds the run for a moment while it records it.
    const closedRun = (runId: string) =>
      eventually(async () => {
        const run = await readRun(runId);
        return run.status === 'running' ? undefined : run;
      }, 20_000);
    const managed = await closedRun(managedRunId);
    expect(managed).toMatchObject({
      status: 'failed',
      error: { code: 1006, message: expect.stringMatching(/stopped before it finished/) },
    });
    const managedChat = await readChat(`${chatId}-managed`);
    expect(managedChat.messages[0]).toMatchObject({
      role: 'user',
      content: 'another question the crash must not lose',
    });
    if (backend.redisUrl) {
      // The run log outlived the process: the answer so far is kept, marked partial.
      expect(managedChat.messages[1]).toMatchObject({ role: 'assistant', status: 'partial' });
      expect(managedChat.messages[1]!.content.length).toBeGreaterThan(0);
    }

    const restChat = await readChat(chatId);
    expect(restChat.messages[0]).toMatchObject({ role: 'user', content: 'a question the crash must not lose' });
    expect(await closedRun(restRunId)).toMatchObject({ status: 'failed', error: { code: 1006 } });
  }, 60_000);
});

describe.each(testBackends().filter((backend) => backend.redisUrl))(
  'an instance that stays up, sharing the run log on $name',
  (backend) => {
    const { env, children } = serversOf(backend);

    it('closes the runs of an instance killed beside it, with no restart and no follower', async () => {
      const survivor = await startServer(env);
      children.push(survivor.child);
      const doomed = await startServer(env);
      children.push(doomed.child);
      const client = createChatClient({ url: doomed.url, transport: 'sse', apiKey: 'sk-demo' });
      const { runId } = await client.trpc.chat.runs.create.mutate({
        bot_id: 'demo-bot',
        uid: 'victim',
        parameters: { messages: [{ role: 'user', content: 'a question its instance will not finish' }] },
      });
      await new Promise((resolve) => setTimeout(resolve, 700));
      await kill(doomed.child);
      client.close();
      // The survivor started before the run did, so only its periodic look (every 10 s) can close it.
      const run = await eventually(async () => {
        const response = await fetch(`${survivor.url}/agent/v1/runs/${runId}`, { headers: demoKey });
        const body = (await response.json()) as Record<string, any>;
        return body.status === 'running' ? undefined : body;
      }, 30_000);
      expect(run).toMatchObject({ status: 'failed', error: { code: 1006 } });
    }, 60_000);
  },
);
