// The `astron-chat` command line as a user runs it: a child process (the source, through tsx), its
// exit code and what it prints. Every error exits non-zero and says what to do.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/test/support/child-services.ts';
import { startTestApp, type TestApp } from '../../server/test/support/test-app.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const embedded = { name: 'sqlite' as const, databaseUrl: undefined, redisUrl: undefined };

type Outcome = { code: number | null; stdout: string; stderr: string; ms: number };

/** Runs the CLI with only the environment given (no ASTRON_* settings of the machine). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const startedAt = Date.now();
  const { ASTRON_URL: _url, ASTRON_API_KEY: _key, ASTRON_ADMIN_TOKEN: _token, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=astron-source', CLI, ...args], {
    env: { ...inherited, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - startedAt }));
  });
}

describe('astron-chat command line', () => {
  let server: TestApp;
  let production: TestApp;
  let deadUrl: string;

  beforeAll(async () => {
    [server, production, deadUrl] = await Promise.all([
      startTestApp(embedded),
      // Demo mode off and no ADMIN_TOKEN: the admin API is off.
      startTestApp(embedded, { env: { DEMO_MODE: '0' } }),
      freePort().then((port) => `http://127.0.0.1:${port}`),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), production?.close()]);
  });

  it.each([
    ['chat over SSE', ['chat', '--api-key', 'sk-demo', '--bot', 'demo-bot', 'hello']],
    ['chat over WebSocket', ['chat', '--transport', 'ws', '--api-key', 'sk-demo', '--bot', 'demo-bot', 'hello']],
    ['an admin command', ['admin', 'apps', 'list', '--admin-token', 'demo-admin-token']],
    ['history', ['history', '--api-key', 'sk-demo', '--chat-id', 'c1']],
  ])('%s gives up on an unreachable server within seconds, says so and exits 1', async (_name, args) => {
    const outcome = await cli([...args, '--url', deadUrl]);
    expect(outcome.stderr).toContain(`cannot connect to ${deadUrl}: is the server running?`);
    expect(outcome.code).toBe(1);
    // Including tsx's start-up.
    expect(outcome.ms).toBeLessThan(8_000);
  });

  it('a missing admin token names the flag and the variable, and exits 2 without a page of usage', async () => {
    const outcome = await cli(['admin', 'apps', 'list', '--url', server.url]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('missing the admin token: pass --admin-token or set ASTRON_ADMIN_TOKEN');
    expect(outcome.stderr).not.toContain('astron-chat admin apps create');
  });

  it('a missing API key names --api-key and ASTRON_API_KEY', async () => {
    const outcome = await cli(['chat', '--bot', 'demo-bot', '--url', server.url, 'hi']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('missing the API key: pass --api-key or set ASTRON_API_KEY');
  });

  it('a server with the admin API off says ADMIN_TOKEN is not set, and the CLI exits 1', async () => {
    const outcome = await cli(['admin', 'apps', 'list', '--url', production.url], { ASTRON_ADMIN_TOKEN: 'anything' });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('set ADMIN_TOKEN');
    expect(outcome.stderr).toContain('(code 1007)');
  });

  it.each([
    ['a wrong API key', ['chat', '--api-key', 'sk-wrong', '--bot', 'demo-bot', 'hi'], '(code 1002)'],
    ['an unknown bot', ['chat', '--api-key', 'sk-demo', '--bot', 'no-such-bot', 'hi'], '(code 1008)'],
    ['a wrong admin token', ['admin', 'apps', 'list', '--admin-token', 'wrong'], '(code 1002)'],
  ])('%s exits 1 with the code', async (_name, args, code) => {
    const outcome = await cli([...args, '--url', server.url]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(code);
  });

  it('usage mistakes exit 2; --help and a good chat exit 0', async () => {
    const [unknownFlag, badTransport, help, chat] = await Promise.all([
      cli(['chat', '--no-such-flag']),
      cli(['chat', '--transport', 'pigeon', '--api-key', 'k', '--bot', 'b', 'hi']),
      cli(['--help']),
      cli(['chat', '--api-key', 'sk-demo', '--bot', 'demo-bot', '--url', server.url, 'hello there']),
    ]);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("Unknown option '--no-such-flag'");
    expect(badTransport.code).toBe(2);
    expect(badTransport.stderr).toContain('--transport must be ws or sse');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('astron-chat chat');
    expect(chat.code).toBe(0);
    expect(chat.stdout).toContain('You said: "hello there"');
  });
});
