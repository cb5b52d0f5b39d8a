import { randomBytes } from 'node:crypto';
import { createAdminClient } from '@astron-chat/client';
import { DEMO_ADMIN_TOKEN } from '../../src/config/config.ts';

export type Tenant = { appId: string; apiKey: string; apiKeyId: string; secret: string; botId: string };

/** A fresh app with one demo-model bot, made through the admin API as an operator would. */
export async function createTenant(url: string, prefix = 'app'): Promise<Tenant> {
  const admin = createAdminClient({ url, adminToken: DEMO_ADMIN_TOKEN });
  const appId = `${prefix}-${randomBytes(5).toString('hex')}`;
  const created = await admin.admin.apps.create.mutate({ id: appId });
  const botId = 'helper-bot';
  await admin.admin.bots.create.mutate({ appId, botId, definition: { kind: 'chat', model: { provider: 'demo' } } });
  return { appId, apiKey: created.apiKey, apiKeyId: created.apiKeyId, secret: created.secret, botId };
}
