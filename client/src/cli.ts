#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createAdminClient } from './admin-client.ts';
import { answerError, reachingFetch, toChatClientError } from './errors.ts';
import { createChatClient } from './node-client.ts';

/* eslint-disable no-console -- a command-line tool talks to its terminal */

const USAGE = `astron-chat — command line for an astron-chat server

  astron-chat admin apps create <app-id> [--name <name>]     prints the app's first API key and signing secret (shown once)
  astron-chat admin apps list | disable <app-id> | enable <app-id> | delete <app-id>
  astron-chat admin keys create <app-id> <key-name>          prints the new key (shown once)
  astron-chat admin keys list <app-id> | revoke <app-id> <key-id>
  astron-chat admin secrets create <app-id> | list <app-id> | revoke <app-id> <secret-id>
  astron-chat admin bots create|update <app-id> <bot-id> (--definition '<json>' | --file <path>) [--name <name>]
  astron-chat admin bots list <app-id> | get <app-id> <bot-id> | versions <app-id> <bot-id> | delete <app-id> <bot-id>
  astron-chat admin providers create <provider-id> --base-url <url> [--api-key <key>] [--header name:value]…
                 [--timeout-ms N] [--connect-timeout-ms N] [--max-concurrency N] [--default-model <model>] [--allow-app <app-id>]…
  astron-chat admin providers update <provider-id> [same flags; --api-key rotates the key, --api-key '' removes it,
                 --header name: removes a header, --allow-app '' opens it to every app]
  astron-chat admin providers list | get <provider-id> | delete <provider-id>
  astron-chat chat --api-key <key> --bot <bot-id> [--chat-id <id>] [--transport ws|sse] <message>
  astron-chat history --api-key <key> --chat-id <id>

Options: --url <server> (env ASTRON_URL, default http://127.0.0.1:8000)
         --admin-token <token> (env ASTRON_ADMIN_TOKEN; the demo server's is demo-admin-token)
         --api-key <key> (env ASTRON_API_KEY)`;

class UsageError extends Error {}

/** Flags, or a usage error (an unknown flag is one, not a stack trace). */
function parseFlags() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        url: { type: 'string', default: process.env.ASTRON_URL ?? 'http://127.0.0.1:8000' },
        'admin-token': { type: 'string', default: process.env.ASTRON_ADMIN_TOKEN },
        // No default here: for `admin providers` it is the provider's key; chat and history fall back to ASTRON_API_KEY.
        'api-key': { type: 'string' },
        'base-url': { type: 'string' },
        header: { type: 'string', multiple: true },
        'timeout-ms': { type: 'string' },
        'connect-timeout-ms': { type: 'string' },
        'max-concurrency': { type: 'string' },
        'default-model': { type: 'string' },
        'allow-app': { type: 'string', multiple: true },
        name: { type: 'string' },
        definition: { type: 'string' },
        file: { type: 'string' },
        bot: { type: 'string' },
        'chat-id': { type: 'string' },
        transport: { type: 'string', default: 'sse' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

let values: ReturnType<typeof parseFlags>['values'];

function required(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

/** The settings a command cannot go without, named as the user sets them (flag, or environment variable). */
const ADMIN_TOKEN_SETTING =
  "the admin token: pass --admin-token or set ASTRON_ADMIN_TOKEN (the server's ADMIN_TOKEN; a demo server's is demo-admin-token)";
const API_KEY_SETTING = 'the API key: pass --api-key or set ASTRON_API_KEY';

const callerApiKey = () => values['api-key'] ?? process.env.ASTRON_API_KEY;

function integerFlag(name: 'timeout-ms' | 'connect-timeout-ms' | 'max-concurrency'): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive whole number`);
  return value;
}

/** The provider fields the flags set; only those given, so an update leaves the rest as they are. */
function providerFlags() {
  const headers: Record<string, string> = {};
  for (const header of values.header ?? []) {
    const colon = header.indexOf(':');
    if (colon <= 0) throw new UsageError(`--header must be name:value, got "${header}"`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  const apps = (values['allow-app'] ?? []).filter(Boolean);
  const timeoutMs = integerFlag('timeout-ms');
  const connectTimeoutMs = integerFlag('connect-timeout-ms');
  const maxConcurrency = integerFlag('max-concurrency');
  return {
    ...(values['base-url'] !== undefined ? { baseUrl: values['base-url'] } : {}),
    ...(values['api-key'] !== undefined ? { apiKey: values['api-key'] === '' ? null : values['api-key'] } : {}),
    ...(values.header ? { headers } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
    ...(values['default-model'] !== undefined ? { defaultModel: values['default-model'] || null } : {}),
    ...(values['allow-app'] ? { allowedApps: apps.length > 0 ? apps : null } : {}),
  };
}

async function admin(args: string[]): Promise<unknown> {
  const client = createAdminClient({
    url: values.url,
    adminToken: required(values['admin-token'], ADMIN_TOKEN_SETTING),
  });
  const [resource, action, first, second] = args;
  const appId = () => required(first, '<app-id>');
  switch (`${resource} ${action}`) {
    case 'apps create':
      return client.admin.apps.create.mutate({ id: appId(), ...(values.name ? { name: values.name } : {}) });
    case 'apps list':
      return client.admin.apps.list.query();
    case 'apps disable':
      return client.admin.apps.disable.mutate({ appId: appId() });
    case 'apps enable':
      return client.admin.apps.enable.mutate({ appId: appId() });
    case 'apps delete':
      return client.admin.apps.delete.mutate({ appId: appId() });
    case 'keys create':
      return client.admin.keys.create.mutate({ appId: appId(), name: required(second, '<key-name>') });
    case 'keys list':
      return client.admin.keys.list.query({ appId: appId() });
    case 'keys revoke':
      return client.admin.keys.revoke.mutate({ appId: appId(), keyId: required(second, '<key-id>') });
    case 'secrets create':
      return client.admin.secrets.create.mutate({ appId: appId() });
    case 'secrets list':
      return client.admin.secrets.list.query({ appId: appId() });
    case 'secrets revoke':
      return client.admin.secrets.revoke.mutate({ appId: appId(), secretId: required(second, '<secret-id>') });
    case 'bots create':
    case 'bots update': {
      const text = values.file
        ? readFileSync(values.file, 'utf8')
        : required(values.definition, '--definition or --file');
      let definition: unknown;
      try {
        definition = JSON.parse(text);
      } catch (error) {
        throw new UsageError(`the bot definition is not JSON: ${(error as Error).message}`);
      }
      const input = {
        appId: appId(),
        botId: required(second, '<bot-id>'),
        definition,
        ...(values.name ? { name: values.name } : {}),
      };
      return action === 'create' ? client.admin.bots.create.mutate(input) : client.admin.bots.update.mutate(input);
    }
    case 'providers create':
      return client.admin.providers.create.mutate({
        id: required(first, '<provider-id>'),
        ...providerFlags(),
        baseUrl: required(values['base-url'], '--base-url'),
      });
    case 'providers update':
      return client.admin.providers.update.mutate({ id: required(first, '<provider-id>'), ...providerFlags() });
    case 'providers list':
      return client.admin.providers.list.query();
    case 'providers get':
      return client.admin.providers.get.query({ id: required(first, '<provider-id>') });
    case 'providers delete':
      return client.admin.providers.delete.mutate({ id: required(first, '<provider-id>') });
    case 'bots list':
      return client.admin.bots.list.query({ appId: appId() });
    case 'bots get':
      return client.admin.bots.get.query({ appId: appId(), botId: required(second, '<bot-id>') });
    case 'bots versions':
      return client.admin.bots.versions.query({ appId: appId(), botId: required(second, '<bot-id>') });
    case 'bots delete':
      return client.admin.bots.delete.mutate({ appId: appId(), botId: required(second, '<bot-id>') });
    default:
      throw new UsageError(`unknown admin command "${args.join(' ')}"`);
  }
}

async function chat(message: string): Promise<void> {
  const transport = values.transport;
  if (transport !== 'ws' && transport !== 'sse')
    throw new UsageError(`--transport must be ws or sse, got "${transport}"`);
  const client = createChatClient({ url: values.url, transport, apiKey: required(callerApiKey(), API_KEY_SETTING) });
  try {
    const request = {
      bot_id: required(values.bot, '--bot'),
      uid: 'cli',
      ...(values['chat-id'] ? { chat_id: values['chat-id'] } : {}),
      parameters: { messages: [{ role: 'user' as const, content: message }] },
    };
    for await (const event of client.streamCompletion(request)) {
      if (event.type === 'text-delta') process.stdout.write(event.text);
      if (event.type === 'error') throw Object.assign(new Error(event.message), { code: event.code });
    }
    process.stdout.write('\n');
  } finally {
    client.close();
  }
}

async function history(): Promise<unknown> {
  const chatId = required(values['chat-id'], '--chat-id');
  const serverUrl = values.url.replace(/\/+$/, '');
  const send = reachingFetch(serverUrl, { authorization: `Bearer ${required(callerApiKey(), API_KEY_SETTING)}` });
  const response = await send(`${serverUrl}/agent/v1/chats/${encodeURIComponent(chatId)}/messages`);
  if (!response.ok) throw await answerError(serverUrl, response);
  return response.json();
}

async function main(): Promise<void> {
  try {
    const flags = parseFlags();
    values = flags.values;
    const [command, ...rest] = flags.positionals;
    if (values.help || !command) {
      console.log(USAGE);
      return;
    }
    if (command === 'admin') console.log(JSON.stringify(await admin(rest), null, 2));
    else if (command === 'chat') await chat(required(rest.join(' '), '<message>'));
    else if (command === 'history') console.log(JSON.stringify(await history(), null, 2));
    else throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`astron-chat: ${error.message}\nRun "astron-chat --help" for the commands and their options.`);
      process.exitCode = 2;
      return;
    }
    const failure = toChatClientError(error);
    const code = (error as { code?: unknown }).code;
    console.error(`astron-chat: ${failure.message} (code ${typeof code === 'number' ? code : failure.code})`);
    process.exitCode = 1;
  }
}

await main();
