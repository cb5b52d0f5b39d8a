import { z } from 'zod';
import type { TransportDependencies } from '../transport-dependencies.ts';
import type { Trpc } from './trpc.ts';

const appId = z.object({ appId: z.string().min(1).max(64) });
const botRef = appId.extend({ botId: z.string().min(1).max(64) });
const botInput = botRef.extend({ name: z.string().min(1).max(128).optional(), definition: z.unknown() });

const providerId = z.object({
  id: z
    .string()
    .regex(
      /^[A-Za-z0-9][\w.-]{0,63}$/,
      'must be 1–64 letters, digits, "_", "." or "-", starting with a letter or digit',
    ),
});
const milliseconds = z.number().int().min(1).max(1_800_000);
const providerFields = z.strictObject({
  type: z.literal('openai-compatible').optional(),
  baseUrl: z
    .string()
    .url()
    .max(2048)
    .regex(/^https?:\/\//, 'must be an http(s) URL')
    .optional(),
  /** Rotated by an update; `null` or '' removes it. */
  apiKey: z.string().max(4096).nullable().optional(),
  /** Merged into the stored headers; an empty value removes that header. */
  headers: z
    .record(
      z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'must be an HTTP header name'),
      z
        .string()
        .max(4096)
        .regex(/^[^\r\n]*$/, 'must be one line'),
    )
    .optional(),
  defaultModel: z.string().min(1).max(128).nullable().optional(),
  timeoutMs: milliseconds.nullable().optional(),
  connectTimeoutMs: milliseconds.nullable().optional(),
  maxConcurrency: z.number().int().min(1).max(100_000).nullable().optional(),
  /** App ids that may use it; `null` opens it to every app. */
  allowedApps: z.array(z.string().min(1).max(64)).max(1000).nullable().optional(),
});
// Strict: a misspelt field (`timeout` for `timeoutMs`) is refused, not dropped.
const providerCreate = z.strictObject({
  ...providerId.shape,
  ...providerFields.shape,
  baseUrl: providerFields.shape.baseUrl.unwrap(),
});
const providerUpdate = z.strictObject({ ...providerId.shape, ...providerFields.shape });

/** `admin.*`: apps, keys, secrets and bots of every app, and the server's model providers; only with the admin token. */
export function createAdminRouter({ t, admin }: Trpc, dependencies: TransportDependencies) {
  const service = dependencies.admin;
  return t.router({
    apps: t.router({
      create: admin
        .input(z.object({ id: z.string().min(1).max(64), name: z.string().min(1).max(128).optional() }))
        .mutation(({ input }) => service.createApp(input)),
      list: admin.query(() => service.listApps()),
      disable: admin.input(appId).mutation(({ input }) => service.setAppStatus(input.appId, 'disabled')),
      enable: admin.input(appId).mutation(({ input }) => service.setAppStatus(input.appId, 'active')),
      delete: admin.input(appId).mutation(({ input }) => service.deleteApp(input.appId)),
    }),
    keys: t.router({
      create: admin
        .input(appId.extend({ name: z.string().min(1).max(128) }))
        .mutation(({ input }) => service.createKey(input.appId, input.name)),
      list: admin.input(appId).query(({ input }) => service.listKeys(input.appId)),
      revoke: admin
        .input(appId.extend({ keyId: z.string().min(1) }))
        .mutation(({ input }) => service.revokeKey(input.appId, input.keyId)),
    }),
    secrets: t.router({
      create: admin.input(appId).mutation(({ input }) => service.createSecret(input.appId)),
      list: admin.input(appId).query(({ input }) => service.listSecrets(input.appId)),
      revoke: admin
        .input(appId.extend({ secretId: z.string().min(1) }))
        .mutation(({ input }) => service.revokeSecret(input.appId, input.secretId)),
    }),
    /** Any app's usage by UTC day, bot and key (`chat.usage` for that app). */
    usage: admin
      .input(appId.extend({ from: z.string().optional(), to: z.string().optional() }))
      .query(({ input }) => dependencies.conversations.usage(input.appId, input)),
    runs: t.router({
      /** Any app's finished runs, newest first (`chat.runs.list` for that app). */
      list: admin
        .input(
          appId.extend({ limit: z.number().int().min(1).max(200).optional(), before: z.string().max(64).optional() }),
        )
        .query(({ input }) => dependencies.runReads.list(input.appId, input)),
      /** A run of that app with its node runs (`chat.runs.get` for that app). */
      get: admin
        .input(appId.extend({ runId: z.string().min(1).max(64) }))
        .query(({ input }) => dependencies.runReads.get(input.appId, input.runId)),
    }),
    providers: t.router({
      create: admin
        .input(providerCreate)
        .mutation(({ input: { id, ...fields } }) => service.createProvider(id, fields)),
      update: admin
        .input(providerUpdate)
        .mutation(({ input: { id, ...fields } }) => service.updateProvider(id, fields)),
      list: admin.query(() => service.listProviders()),
      get: admin.input(providerId).query(({ input }) => service.getProvider(input.id)),
      delete: admin.input(providerId).mutation(({ input }) => service.deleteProvider(input.id)),
    }),
    bots: t.router({
      create: admin.input(botInput).mutation(({ input }) => service.saveBot({ ...input, mode: 'create' })),
      update: admin.input(botInput).mutation(({ input }) => service.saveBot({ ...input, mode: 'update' })),
      list: admin.input(appId).query(({ input }) => service.listBots(input.appId)),
      get: admin.input(botRef).query(({ input }) => service.getBot(input.appId, input.botId)),
      versions: admin.input(botRef).query(({ input }) => service.listBotVersions(input.appId, input.botId)),
      delete: admin.input(botRef).mutation(({ input }) => service.deleteBot(input.appId, input.botId)),
    }),
  });
}
