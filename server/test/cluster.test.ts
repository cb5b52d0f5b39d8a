import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChatClient, type ChatEvent } from '@astron-chat/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.ts';
import { readFrames, type SseFrame } from './support/sse.ts';

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
  // Up to 30 s: tsx compiles the server at start-up, slow on a loaded 2-core machine.
  for (let attempt = 0; attempt < 300; attempt += 1) {
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

const demoKey = { authorization: 'Bearer sk-demo' };
const question = 'keep streaming while an instance dies '.repeat(8).trim();
const answer = `This is the astron-chat demo model (a built-in demo, not a real LLM). You said: "${question}".`;

/** The answer text of OpenAI chunks (the error frame and `[DONE]` have none). */
const contentOf = (frames: SseFrame[]) =>
  frames
    .filter((frame) => frame.data !== '[DONE]')
    .map(
      (frame) =>
        (JSON.parse(frame.data) as { choices?: Array<{ delta: { content?: string } }> }).choices?.[0]?.delta.content ??
        '',
    )
    .join('');

/** `<run_id>:<seq>` of a frame (every frame of these runs has one). */
const seqOf = (frame: SseFrame) => Number(frame.id?.split(':').pop());

/** The SPEC §6 fault test: two instances behind the compose file's nginx, one killed mid-stream. */
describe.runIf(shared && hasNginx)('two instances behind nginx', () => {
  const instances: Array<{ url: string; port: number; process: ChildProcess }> = [];
  let prefix = '';
  let nginxUrl = '';
  let nginx: ChildProcess | undefined;

  function startInstance(port: number): ChildProcess {
    return spawn(process.execPath, ['--conditions=astron-source', '--import', 'tsx', 'server/src/main.ts'], {
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
  }

  /** Restarts a killed instance on its port (nginx's upstream list names the ports). */
  async function bothRunning(): Promise<void> {
    for (const instance of instances) {
      if (instance.process.exitCode === null && instance.process.signalCode === null) continue;
      instance.process = startInstance(instance.port);
      await waitForHealth(instance.url);
    }
  }

  /** The instance executing the one run in flight: the one whose active-runs gauge is 1. */
  async function runOwner() {
    for (const instance of instances) {
      const metrics = await (await fetch(`${instance.url}/metrics`)).text();
      if (/^astron_chat_active_runs 1$/m.test(metrics)) return instance;
    }
    throw new Error('no instance is running the run');
  }

  /** SIGKILLs the instance executing the one run in flight; when it was killed. */
  async function killRunOwner(): Promise<number> {
    (await runOwner()).process.kill('SIGKILL');
    return Date.now();
  }

  /**
   * `GET /agent/v1/runs/{run_id}/stream` through nginx, after `lastId` when given. While nginx holds
   * every instance for failed (the one just killed, and one restarted inside its 10 s `fail_timeout`)
   * it drops the connection (deploy/nginx.conf: an EventSource reconnects after that, not after a 502).
   * A resuming client tries again, as after any cut.
   */
  async function resumeThroughNginx(runId: string, lastId: string | undefined): Promise<Response> {
    const giveUpAt = Date.now() + 15_000;
    for (;;) {
      try {
        return await fetch(`${nginxUrl}/agent/v1/runs/${runId}/stream`, {
          headers: { ...demoKey, ...(lastId ? { 'last-event-id': lastId } : {}) },
        });
      } catch (error) {
        if (Date.now() > giveUpAt) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /**
   * A REST client of a run through nginx that, whenever its connection is cut, resumes with the
   * `Last-Event-ID` of the last frame it got, until the stream ends. Returns the frames and its cuts.
   */
  async function followThroughNginx(runId: string): Promise<{ frames: SseFrame[]; cuts: number }> {
    const frames: SseFrame[] = [];
    for (let cuts = 0; ; cuts += 1) {
      const response = await resumeThroughNginx(runId, frames.at(-1)?.id);
      expect(response.status).toBe(200);
      const ended = await readFrames(response, Infinity, (frame) => void frames.push(frame)).then(
        () => true,
        () => false,
      );
      if (ended) return { frames, cuts };
    }
  }

  beforeAll(async () => {
    prefix = mkdtempSync(path.join(tmpdir(), 'ac-cluster-'));
    mkdirSync(path.join(prefix, 'temp'));
    const [listen, first, second] = [await freePort(), await freePort(), await freePort()];
    for (const port of [first, second]) {
      instances.push({ url: `http://127.0.0.1:${port}`, port, process: startInstance(port) });
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
    nginxUrl = `http://127.0.0.1:${listen}`;
    for (const instance of instances) await waitForHealth(instance.url);
    await waitForHealth(nginxUrl);
  }, 60_000);

  // Each test kills an instance: the next one starts with two again.
  beforeEach(bothRunning, 60_000);

  afterAll(() => {
    // nginx gets SIGTERM: its master then stops its workers (SIGKILL would orphan them).
    nginx?.kill('SIGTERM');
    for (const instance of instances) instance.process.kill('SIGKILL');
  });

  /** A resumable OpenAI-route stream of the demo bot, started through nginx. */
  function startResumableThroughNginx(): Promise<Response> {
    return fetch(`${nginxUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...demoKey, 'content-type': 'application/json', 'x-astron-resumable': 'true' },
      body: JSON.stringify({ model: 'demo-bot', stream: true, messages: [{ role: 'user', content: question }] }),
    });
  }

  /** The follower that ended a lost run also recorded it: readable from either instance, as failed. */
  async function expectRecordedLost(runId: string): Promise<void> {
    const response = await fetch(`${nginxUrl}/agent/v1/runs/${runId}`, { headers: demoKey });
    expect(await response.json()).toMatchObject({ runId, botId: 'demo-bot', status: 'failed', error: { code: 1006 } });
  }

  it('a tRPC client resumes on the other instance after SIGKILL and gets every event exactly once, then a clear end', async () => {
    const client = createChatClient({ url: nginxUrl, transport: 'sse', apiKey: 'sk-demo' });
    const events: ChatEvent[] = [];
    let killedAt = 0;
    for await (const event of client.streamCompletion({
      bot_id: 'demo-bot',
      uid: 'cluster',
      parameters: { messages: [{ role: 'user', content: question }] },
    })) {
      events.push(event);
      if (killedAt === 0 && events.filter((seen) => seen.type === 'text-delta').length === 5) {
        killedAt = await killRunOwner();
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
    expect(answer.startsWith(text)).toBe(true);
    // The follower that ended the run also recorded it: readable from either instance, as failed.
    await expectRecordedLost(events[0]?.type === 'run-start' ? events[0].runId : '');
  }, 30_000);

  it('REST readers on the instance that dies resume through nginx on the run’s own instance and get the rest, then [DONE]', async () => {
    const response = await startResumableThroughNginx();
    const runId = response.headers.get('x-astron-run-id')!;
    const starter = readFrames(response);
    const owner = await runOwner();
    // nginx spreads these over both instances (least_conn: the owner already holds the starter's stream).
    const followers = Promise.all([0, 1, 2, 3].map(() => followThroughNginx(runId)));
    await new Promise((resolve) => setTimeout(resolve, 600));
    instances.find((instance) => instance !== owner)!.process.kill('SIGKILL');

    const whole = await starter;
    expect(whole.at(-1)!.data).toBe('[DONE]');
    expect(contentOf(whole)).toBe(`${answer} This is turn 1 of our conversation.`);
    const followed = await followers;
    // Those cut resumed on the owner; every reader has every frame exactly once, in order.
    expect(followed.reduce((sum, follower) => sum + follower.cuts, 0)).toBeGreaterThan(0);
    for (const { frames } of followed) expect(frames).toEqual(whole);
  }, 30_000);

  it('a resumable REST (OpenAI) stream resumes by Last-Event-ID on the other instance: every frame once, then the same clear end', async () => {
    const response = await startResumableThroughNginx();
    expect(response.status).toBe(200);
    const runId = response.headers.get('x-astron-run-id')!;
    const before: SseFrame[] = [];
    let killedAt = 0;
    // The instance dies mid-answer: nginx cuts this connection without an end.
    const cut = await readFrames(response, Infinity, async (frame) => {
      before.push(frame);
      if (killedAt === 0 && before.filter((seen) => contentOf([seen]) !== '').length === 5) {
        killedAt = await killRunOwner();
      }
    }).then(
      () => false,
      () => true,
    );
    expect(killedAt).toBeGreaterThan(0);
    expect(cut).toBe(true);
    expect(before.at(-1)!.data).not.toBe('[DONE]');

    // Through nginx again, which can only reach the other instance now.
    const resumed = await resumeThroughNginx(runId, before.at(-1)!.id);
    expect(resumed.status).toBe(200);
    const after = await readFrames(resumed);
    // Frame ids (`<run_id>:<seq>`) rise across the cut: nothing twice, nothing skipped that was logged.
    const seqs = [...before, ...after].map(seqOf);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    // The owner died with the run: the OpenAI route's in-band error (1006, retryable "instance stopped"), no [DONE].
    const last = JSON.parse(after.at(-1)!.data) as { error?: { code: string; message: string } };
    expect(last.error).toMatchObject({ code: '1006' });
    expect(last.error?.message).toMatch(/instance running this run stopped/);
    expect(after.some((frame) => frame.data === '[DONE]')).toBe(false);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    // The resume is exactly what the run log holds after the cut; before it, the log says what the cut
    // stream said (it may lag by the frames the owner handed out as it died, never differ).
    const cutSeq = seqOf(before.at(-1)!);
    const logged = await readFrames(await fetch(`${nginxUrl}/agent/v1/runs/${runId}/stream`, { headers: demoKey }));
    expect(logged.filter((frame) => seqOf(frame) > cutSeq)).toEqual(after);
    const loggedBefore = logged.filter((frame) => seqOf(frame) <= cutSeq);
    expect(before.slice(0, loggedBefore.length)).toEqual(loggedBefore);
    const text = contentOf([...before, ...after]);
    expect(answer.startsWith(text)).toBe(true);
    await expectRecordedLost(runId);

    // With no instance left, nginx drops a resume's connection (an EventSource tries again by itself)
    // where any other route answers 502 (an EventSource would give up for good).
    for (const instance of instances) instance.process.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await fetch(`${nginxUrl}/health`)).status).toBe(502);
    await expect(fetch(`${nginxUrl}/agent/v1/runs/${runId}/stream`, { headers: demoKey })).rejects.toThrow();
  }, 30_000);
});
