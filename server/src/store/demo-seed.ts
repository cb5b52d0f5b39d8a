import type { BotDefinition } from '@astron-chat/shared';
import { DEMO_APP_ID } from '../auth/authenticator.ts';
import type { AppRepository } from './app.repository.ts';
import type { BotRepository } from './bot.repository.ts';

export const DEMO_API_KEY = 'sk-demo';
export const DEMO_SECRET = 'demo-secret';
export const DEMO_BOT_ID = 'demo-bot';
export const UPSTREAM_BOT_ID = 'upstream-bot';

/**
 * Makes sure the demo app, its credentials and bots exist; safe to run on every start, also by
 * several processes at once (a losing insert finds the winner's rows on the second pass).
 */
export async function seedDemo(options: { apps: AppRepository; bots: BotRepository; withUpstreamBot: boolean }) {
  try {
    await seedOnce(options);
  } catch {
    await seedOnce(options);
  }
}

async function seedOnce(options: { apps: AppRepository; bots: BotRepository; withUpstreamBot: boolean }) {
  const { apps, bots } = options;
  if (!(await apps.findApp(DEMO_APP_ID))) {
    await apps.createApp({ id: DEMO_APP_ID, name: 'Demo app' });
    await apps.createApiKey({ appId: DEMO_APP_ID, name: 'demo key', key: DEMO_API_KEY });
    await apps.createSecret({ appId: DEMO_APP_ID, secret: DEMO_SECRET });
  }
  const ensureBot = async (botId: string, name: string, definition: BotDefinition) => {
    if (!(await bots.findBot(DEMO_APP_ID, botId))) await bots.saveBot({ appId: DEMO_APP_ID, botId, name, definition });
  };
  await ensureBot(DEMO_BOT_ID, 'Demo bot (built-in demo model)', {
    kind: 'chat',
    model: { provider: 'demo' },
    systemPrompt: 'You are the astron-chat demo bot.',
  });
  if (options.withUpstreamBot) {
    await ensureBot(UPSTREAM_BOT_ID, 'Upstream bot (OPENAI_BASE_URL)', {
      kind: 'chat',
      model: { provider: 'upstream' },
    });
  }
}
