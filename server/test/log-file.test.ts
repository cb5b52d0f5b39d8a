import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { createLogger, deleteOldLogFiles } from '../src/lib/logger.ts';
import { eventually, postJson, readSse } from './support/sse.ts';

const folder = mkdtempSync(path.join(tmpdir(), 'astron-chat-logs-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** Files of `dir` (none while pino-roll's worker has not made it yet). */
const filesOf = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
const linesOf = (dir: string) =>
  filesOf(dir)
    .filter((name) => name.endsWith('.log'))
    .flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('LOG_FILE', () => {
  it('rotates at LOG_FILE_MAX_SIZE and keeps JSON lines; rotated files past the retention are deleted', async () => {
    const dir = path.join(folder, 'rotation');
    const logger = createLogger('info', { path: path.join(dir, 'server.log'), maxSize: '1k', retentionDays: 7 });
    // Once the worker writes, pino-roll checks the size after each write: write in batches, as a server does.
    logger.info('first');
    await eventually(() => Promise.resolve(linesOf(dir).length === 1), 10_000);
    for (let batch = 0; batch < 5; batch += 1) {
      for (let index = 0; index < 12; index += 1) logger.info({ batch, index, filler: 'x'.repeat(40) }, 'line');
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await eventually(() => {
      const files = filesOf(dir).filter((name) => /^server\.\d{4}-\d{2}-\d{2}\.\d+\.log$/.test(name));
      return Promise.resolve(files.length >= 4 && linesOf(dir).filter((line) => line.msg === 'line').length === 60);
    }, 10_000);
    expect(linesOf(dir).every((line) => line.service === 'astron-chat')).toBe(true);

    const old = path.join(dir, 'server.2020-01-01.1.log');
    writeFileSync(old, '{}\n');
    utimesSync(old, new Date('2020-01-02'), new Date('2020-01-02'));
    const unrelated = path.join(dir, 'other.2020-01-01.1.log');
    writeFileSync(unrelated, '{}\n');
    utimesSync(unrelated, new Date('2020-01-02'), new Date('2020-01-02'));
    expect(await deleteOldLogFiles(path.join(dir, 'server.log'), 7)).toEqual(['server.2020-01-01.1.log']);
    expect(readdirSync(dir)).toContain('other.2020-01-01.1.log');
  });

  it('every log line of a run carries its run id', async () => {
    const dir = path.join(folder, 'app');
    const config = loadConfig({
      PORT: '0',
      DATA_DIR: dir,
      DEMO_MODE: '1',
      DEMO_MODEL_DELAY_MS: '0',
      LOG_LEVEL: 'info',
      LOG_FILE: path.join(dir, 'logs', 'astron.log'),
    });
    const app = await createApp(config);
    const { url } = await app.listen();
    try {
      const body = (
        await readSse(
          await postJson(
            `${url}/agent/v1/chat/completions`,
            {
              bot_id: 'demo-workflow',
              uid: 'u',
              stream: true,
              parameters: { messages: [{ role: 'user', content: 'Hi?' }] },
            },
            { authorization: 'Bearer sk-demo' },
          ),
        )
      ).data;
      const runId = (JSON.parse(body[0] as string) as { id: string }).id;
      const finished = await eventually(
        () => Promise.resolve(linesOf(path.join(dir, 'logs')).find((line) => line.msg === 'run finished')),
        10_000,
      );
      expect(finished).toMatchObject({ runId, appId: 'demo-app', status: 'succeeded' });
    } finally {
      await app.close(100);
    }
  });
});
