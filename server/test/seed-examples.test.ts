import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/test-app.ts';

const run = promisify(execFile);
const examplePath = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));
const example = examplePath('seed_stream.py');

// The seed's own client code is the contract: it must work against us unmodified.
describe("the design document's Python requests example", () => {
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp({ name: 'sqlite', databaseUrl: undefined, redisUrl: undefined });
  });
  afterAll(async () => {
    await server.close();
  });

  it('prints the streamed answer', async () => {
    const { stdout, stderr } = await run('python3', [example], { env: { ...process.env, ASTRON_URL: server.url } });
    expect(stderr).toBe('');
    // The example json-decodes every `data:` line, so it reports the `[DONE]` line that the same
    // document's wire format ends with; that line is the example's, not a fault of the stream.
    expect(stdout).toBe(
      'This is the astron-chat demo model (a built-in demo, not a real LLM). You said: "你好". This is turn 1 of our conversation.' +
        '解析错误: data: [DONE]\n',
    );
  });

  it('the non-streaming Python call prints the whole answer as one JSON body', async () => {
    const { stdout, stderr } = await run('python3', [examplePath('seed_non_stream.py')], {
      env: { ...process.env, ASTRON_URL: server.url },
    });
    expect(stderr).toBe('');
    const body = JSON.parse(stdout) as { code: number; choices: Array<{ message: { content: string } }> };
    expect(body.code).toBe(0);
    expect(body.choices[0]?.message.content).toContain('You said: "你好"');
  });

  it('the JavaScript WebSocket client signs with ts = Date.now() (milliseconds) and streams the answer', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--experimental-websocket', '--no-warnings', examplePath('seed_ws_client.mjs')],
      { env: { ...process.env, ASTRON_URL: server.url } },
    );
    expect(stderr).toBe('');
    expect(stdout).toContain('WebSocket连接已建立');
    expect(stdout).toContain('You said: "你好"');
  });
});
