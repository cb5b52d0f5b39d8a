import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
/**
 * What `npm start` runs after `npm run build` (`VAR=value node --option server/dist/main.js`), run
 * through `env` as the cluster script does: a bad node option would fail these tests too.
 */
const startScript = (
  JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start;
const START_COMMAND = startScript.slice(startScript.lastIndexOf('&& ') + 3).split(' ');

const environment = (env: Record<string, string>) => ({
  PATH: process.env.PATH ?? '',
  PORT: '0',
  DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ac-start-')),
  ...env,
});

/** Starts the built server as `npm start` does and returns how it ended. */
async function start(env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run('env', START_COMMAND, {
      cwd: root,
      env: environment(env),
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  // The server bundle only: the console's build belongs to the browser test (console/test), which serves it.
  await run('npm', ['run', 'build:server', '--silent'], { cwd: root, timeout: 60_000 });
}, 60_000);

describe('npm start', () => {
  it('serves the embedded demo from the built server, with no services', async () => {
    const child = spawn('env', START_COMMAND, {
      cwd: root,
      env: environment({ DATABASE_URL: '', REDIS_URL: '', LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const origin = await new Promise<string>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
        createInterface({ input: child.stdout }).on('line', (line) => {
          const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(line);
          if (match?.[1]) resolve(match[1]);
        });
      });
      const response = await fetch(`${origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-demo', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo-bot', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
      expect(body.choices[0]?.message.content.length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('start-up faults', () => {
  it('exits non-zero naming the MySQL URL it could not reach, password redacted', async () => {
    const result = await start({ DATABASE_URL: 'mysql://root:hunter2@127.0.0.1:1/astron' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('mysql://root:***@127.0.0.1:1/astron');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('exits non-zero naming the Redis URL it could not reach', async () => {
    const result = await start({ REDIS_URL: 'redis://127.0.0.1:1/0' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Could not reach Redis at redis://127.0.0.1:1/0');
  });

  it('exits non-zero naming a bad variable', async () => {
    const result = await start({ PORT: 'eighty' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/Invalid configuration: PORT/);
  });
});
