import { createApp } from './app.ts';
import { loadConfig } from './config/config.ts';
import { DEMO_API_KEY, DEMO_BOT_ID, DEMO_SECRET } from './store/demo-seed.ts';

/* eslint-disable no-console -- the start banner is for the person at the terminal, not the log */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  const app = await createApp(config).catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
  const { url } = await app.listen().catch((error: unknown) => {
    console.error(`Could not listen on ${config.host}:${config.port}: ${(error as Error).message}`);
    process.exit(1);
  });

  console.log(`astron-chat listening on ${url} (${app.describe}${config.demoMode ? ', demo mode' : ''})`);
  console.log(`  Astron REST   POST ${url}/agent/v1/chat/completions`);
  console.log(`  OpenAI REST   POST ${url}/v1/chat/completions   GET ${url}/v1/models`);
  console.log(`  tRPC          ${url}/trpc  (SSE)   ${url.replace('http', 'ws')}/trpc  (WebSocket)`);
  console.log(`  WebSocket     ${url.replace('http', 'ws')}/agent/v1/ws?appid&ts&signa`);
  console.log(`  Health        GET ${url}/health`);
  if (config.demoMode) {
    console.log(
      `\nDemo app "demo-app": API key ${DEMO_API_KEY}, signing secret ${DEMO_SECRET}, bot "${DEMO_BOT_ID}".` +
        `\nAdmin token ${config.adminToken ?? '(off)'} for the admin API and \`npx astron-chat admin …\`. Try:\n`,
    );
    if (config.secretsKey?.source === 'demo') {
      console.log(
        'SECRETS_KEY is not set: demo mode encrypts provider keys and app secrets with a fixed derived key, which is not secret.\n',
      );
    }
    console.log(
      `curl -N ${url}/agent/v1/chat/completions -H 'x-consumer-username: demo-app' -H 'content-type: application/json' \\\n` +
        `  -d '{"bot_id":"${DEMO_BOT_ID}","uid":"me","stream":true,"parameters":{"messages":[{"role":"user","content":"Hello"}]}}'\n`,
    );
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping (open streams get up to 10 s to finish)`);
    app.close(10_000).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
