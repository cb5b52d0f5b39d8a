import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/test-app.ts';

const run = promisify(execFile);
const example = fileURLToPath(new URL('../../examples/seed_stream.py', import.meta.url));

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
});
