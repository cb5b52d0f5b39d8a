import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChatClient, type ChatEvent } from '@astron-chat/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const shared = testBackends().find((backend) => backend.databaseUrl && backend.redisUrl);
const hasNginx = spawnSync('nginx', ['-v']).status === 0;
if (process.env.CI && !hasNginx) throw new Error('CI must install nginx: the cluster test runs behind it.');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt += 1) {
    if (
      await fetch(`${url}/health`).then(
        (response) => response.ok,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not become healthy`);
}

/** The SPEC §6 fault test: two instances behind the compose file's nginx, one killed mid-stream. */
describe.runIf(shared && hasNginx)('two instances behind nginx', () => {
  const children: ChildProcess[] = [];
  const instances: Array<{ url: string; process: ChildProcess }> = [];
  let nginxUrl = '';
  let nginx: ChildProcess | undefined;

  beforeAll(async () => {
    const prefix = mkdtempSync(path.join(tmpdir(), 'ac-cluster-'));
    mkdirSync(path.join(prefix, 'temp'));
    const [listen, first, second] = [await freePort(), await freePort(), await freePort()];
    for (const port of [first, second]) {
      const child = spawn(process.execPath, ['--conditions=astron-source', '--import', 'tsx', 'server/src/main.ts'], {
        cwd: root,
        stdio: 'ignore',
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(port),
          HOST: '127.0.0.1',
          DATA_DIR: prefix,
          DATABASE_URL: shared!.databaseUrl,
          REDIS_URL: shared!.redisUrl,
          DEMO_MODE: '1',
          DEMO_MODEL_DELAY_MS: '40',
          ORPHAN_TIMEOUT_SECONDS: '1',
          LOG_LEVEL: 'warn',
        },
      });
      children.push(child);
      instances.push({ url: `http://127.0.0.1:${port}`, process: child });
    }
    const rendered = spawnSync(
      'bash',
      ['scripts/render-nginx-conf.sh', path.join(prefix, 'nginx.conf'), String(listen), String(first), String(second)],
      { cwd: root },
    );
    expect(rendered.status).toBe(0);
    nginx = spawn(
      'nginx',
      ['-p', `${prefix}/`, '-c', path.join(prefix, 'nginx.conf'), '-g', `pid ${prefix}/nginx.pid; daemon off;`],
      { stdio: 'ignore' },
    );
    children.push(nginx);
    nginxUrl = `http://127.0.0.1:${listen}`;
    for (const instance of instances) await waitForHealth(instance.url);
    await waitForHealth(nginxUrl);
  }, 60_000);

  afterAll(() => {
    // nginx gets SIGTERM: its master then stops its workers (SIGKILL would orphan them).
    for (const child of children) child.kill(child === nginx ? 'SIGTERM' : 'SIGKILL');
  });

  it('a tRPC client resumes on the other instance after SIGKILL and gets every event exactly once, then a clear end', async () => {
    const client = createChatClient({ url: nginxUrl, transport: 'sse', apiKey: 'sk-demo' });
    const question = 'keep streaming while an instance dies '.repeat(8).trim();
    const events: ChatEvent[] = [];
    let killedAt = 0;
    for await (const event of client.streamCompletion({
      bot_id: 'demo-bot',
      uid: 'cluster',
      parameters: { messages: [{ role: 'user', content: question }] },
    })) {
      events.push(event);
      if (killedAt === 0 && events.filter((seen) => seen.type === 'text-delta').length === 5) {
        // The instance executing the run is the one whose active-runs gauge is 1.
        for (const instance of instances) {
          const metrics = await (await fetch(`${instance.url}/metrics`)).text();
          if (/^astron_chat_active_runs 1$/m.test(metrics)) {
            instance.process.kill('SIGKILL');
            killedAt = Date.now();
          }
        }
        expect(killedAt).toBeGreaterThan(0);
      }
    }
    client.close();
    const seqs = events.map((event) => event.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    expect(seqs).toEqual(seqs.map((_, index) => index));
    const last = events.at(-1)!;
    expect(last).toMatchObject({ type: 'error', code: 1006, retryable: true });
    expect(last.type === 'error' && last.message).toMatch(/instance running this run stopped/);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    const text = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : [])).join('');
    expect(text.length).toBeGreaterThan(0);
    const answer = `This is the astron-chat demo model (a built-in demo, not a real LLM). You said: "${question}".`;
    expect(answer.startsWith(text)).toBe(true);
    // The follower that ended the run also recorded it: readable from either instance, as failed.
    const runId = events[0]?.type === 'run-start' ? events[0].runId : '';
    const response = await fetch(`${nginxUrl}/agent/v1/runs/${runId}`, {
      headers: { authorization: 'Bearer sk-demo' },
    });
    expect(await response.json()).toMatchObject({ runId, botId: 'demo-bot', status: 'failed', error: { code: 1006 } });
  }, 30_000);
});
