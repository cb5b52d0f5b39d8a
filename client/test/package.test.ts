import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../server/test/support/test-app.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

/** Twenty lines an app developer would write, typed by the package alone. */
const program = (
  url: string,
  field: string,
) => `import { ChatClientError, createChatClient } from '@astron-chat/client';

const client = createChatClient({ url: '${url}', transport: 'sse', apiKey: 'sk-demo' });
let answer = '';
try {
  const request = { bot_id: 'demo-bot', uid: 'package-test', parameters: { messages: [{ role: 'user' as const, content: 'hello from a package' }] } };
  for await (const event of client.streamCompletion(request)) {
    if (event.type === 'text-delta') answer += event.${field};
    if (event.type === 'finish') console.log(JSON.stringify({ answer, finishReason: event.finishReason }));
  }
  const models = await client.trpc.chat.usage.query({});
  console.log(JSON.stringify({ days: Array.isArray(models.days) }));
} catch (error) {
  console.log(error instanceof ChatClientError ? \`ChatClientError \${error.code}\` : String(error));
} finally {
  client.close();
}
`;

const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    // tRPC's declarations use `Disposable`.
    lib: ['ES2023', 'ESNext.Disposable', 'DOM'],
    types: [],
    outDir: 'out',
  },
  include: ['main.ts'],
};

// From the packed tarballs, in a folder outside the workspace, as an app developer installs them.
describe('the published packages', () => {
  let server: TestApp;
  let project: string;
  beforeAll(async () => {
    project = mkdtempSync(path.join(tmpdir(), 'astron-chat-consumer-'));
    await run('npm', ['run', 'build:packages', '--silent'], { cwd: root });
    await run('npm', ['pack', '--silent', '--pack-destination', project, '-w', 'shared', '-w', 'client'], {
      cwd: root,
    });
    const tarballs = readdirSync(project).filter((name) => name.endsWith('.tgz'));
    writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((name) => `./${name}`)],
      {
        cwd: project,
      },
    );
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    server = await startTestApp({ name: 'sqlite', databaseUrl: undefined, redisUrl: undefined });
  }, 300_000);
  afterAll(async () => {
    await server?.close();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('hold only what is published: built JS, declarations, source maps, README', async () => {
    const { stdout } = await run('tar', [
      '-tzf',
      path.join(
        project,
        readdirSync(project).find((name) => name.startsWith('astron-chat-client'))!,
      ),
    ]);
    const files = stdout.trim().split('\n');
    expect(files).toEqual(
      expect.arrayContaining([
        'package/dist/index.js',
        'package/dist/index.d.ts',
        'package/dist/cli.js',
        'package/README.md',
        'package/package.json',
      ]),
    );
    expect(files.some((file) => file.endsWith('.js.map'))).toBe(true);
    expect(files.filter((file) => !/^package\/(dist\/|README\.md$|package\.json$)/.test(file))).toEqual([]);
  });

  it(
    'a TypeScript program type-checks with tsc, streams a typed answer under plain node, and a wrong field is a type error',
    { timeout: 240_000 },
    async () => {
      writeFileSync(path.join(project, 'main.ts'), program(server.url, 'text'));
      await run(process.execPath, [tsc, '-p', '.'], { cwd: project });
      const { stdout } = await run(process.execPath, ['out/main.js'], { cwd: project, timeout: 20_000 });
      const [finish, usage] = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(finish).toMatchObject({ finishReason: 'stop', answer: expect.stringContaining('hello from a package') });
      expect(usage).toEqual({ days: true });

      writeFileSync(path.join(project, 'main.ts'), program(server.url, 'txt'));
      const failed = await run(process.execPath, [tsc, '-p', '.', '--noEmit'], { cwd: project }).then(
        () => '',
        (error: { stdout: string }) => error.stdout,
      );
      expect(failed).toMatch(/main\.ts.*error TS2339: Property 'txt' does not exist/);
    },
  );

  it('npx astron-chat runs the built bin on plain node', { timeout: 60_000 }, async () => {
    const { stdout } = await run('npx', ['--no-install', 'astron-chat', '--help'], { cwd: project });
    expect(stdout).toContain('astron-chat — command line for an astron-chat server');
  });
});
