import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { createApp, type App, type AppOverrides } from '../../src/app.ts';
import { signWebSocketRequest } from '../../src/auth/authenticator.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Backend } from './backends.ts';

export type TestApp = { app: App; url: string; wsUrl: string; close(): Promise<void> };

/** A real server on a free port, in demo mode, with the demo model unpaced and no load shedding unless `env` says otherwise. */
export async function startTestApp(
  backend: Backend,
  options: { env?: Record<string, string>; overrides?: AppOverrides } = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'astron-chat-test-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DEMO_MODE: '1',
    DEMO_MODEL_DELAY_MS: '0',
    LOG_LEVEL: 'silent',
    // No load shedding unless a test asks for it: test files share a busy machine, and a starved
    // process lags by the production measure (load-shedding.test.ts turns it on).
    OVERLOAD_LAG_MS: '0',
    ...(backend.databaseUrl ? { DATABASE_URL: backend.databaseUrl } : {}),
    ...(backend.redisUrl ? { REDIS_URL: backend.redisUrl } : {}),
    ...options.env,
  });
  const app = await createApp(config, { logger: pino({ level: 'silent' }), ...options.overrides });
  const { url } = await app.listen();
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    async close() {
      await app.close(100);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The plain WebSocket's URL for the demo app, signed now (`appid`, `ts`, `signa`). */
export function demoWebSocketUrl(server: TestApp): string {
  const ts = String(Math.floor(Date.now() / 1000));
  const signa = encodeURIComponent(signWebSocketRequest({ appid: 'demo-app', ts, secret: 'demo-secret' }));
  return `${server.wsUrl}/agent/v1/ws?appid=demo-app&ts=${ts}&signa=${signa}`;
}
