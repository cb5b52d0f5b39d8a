import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `npm start`'s entry point as a user would and returns how it ended. */
async function start(env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', PORT: '0', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'ac-start-')), ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

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
