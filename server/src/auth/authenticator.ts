import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/app-error.ts';
import { cacheKeys, type Cache } from '../cache/cache.ts';
import { hashApiKey, type AppRepository } from '../store/app.repository.ts';
import { DEMO_APP_ID } from '../store/demo-seed.ts';

/** What a transport could read off a request; the authenticator decides which wins. */
export type Credentials = {
  apiKey?: string | undefined;
  /** `x-consumer-username` / `x_consumer_username`, set by a trusted gateway. */
  consumer?: string | undefined;
};

export type Caller = {
  appId: string;
  apiKeyId?: string;
  /** The signing secret a WebSocket was opened with: revoking it ends what the socket may start. */
  secretId?: string;
};

export type SignatureParams = { appid: string; ts: string; signa: string };
export type SignatureInput = { [Key in keyof SignatureParams]?: string | undefined };

export type AuthenticatorOptions = {
  apps: AppRepository;
  /** Key owners and app status are cached; the admin service drops them on every change. */
  cache: Cache;
  demoMode: boolean;
  trustConsumerHeader: boolean;
  /** SIGNATURE_WINDOW_SECONDS */
  signatureWindowSeconds: number;
  /** How long a follow token reads its run: the longest a run can still be streaming (run + orphan timeout). */
  followTokenTtlSeconds: number;
};

/** The one query parameter that may carry a credential, and only to `GET /agent/v1/runs/{run_id}/stream`. */
export const FOLLOW_TOKEN_PARAM = 'follow_token';
const FOLLOW_TOKEN_VERSION = 'ft1';

/**
 * A follow token: `ft1.<app id, base64url>.<key id>.<expiry, Unix s>.<mac>`, mac = base64url
 * HMAC-SHA256 over app, key, run and expiry, keyed with the stored hash of the API key that started
 * the run. It reads one run of one app and nothing else, expires, and dies with its key
 * (docs/decisions/2026-12-03-follow-tokens.md).
 */
function followTokenMac(keyHash: string, fields: { appId: string; keyId: string; runId: string; expires: number }) {
  const message = `${FOLLOW_TOKEN_VERSION}\n${fields.appId}\n${fields.keyId}\n${fields.runId}\n${fields.expires}`;
  return createHmac('sha256', keyHash).update(message).digest('base64url');
}

/** `signa` = Base64(HMAC-SHA1(secret, lowercase hex MD5(appid + ts))) — SPEC §6. */
export function signWebSocketRequest(input: { appid: string; ts: string | number; secret: string }): string {
  const digest = createHash('md5').update(`${input.appid}${input.ts}`).digest('hex');
  return createHmac('sha1', input.secret).update(digest).digest('base64');
}

/** Constant-time string comparison (no early exit on the first differing byte). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createAuthenticator(options: AuthenticatorOptions) {
  function refuseDemoOutsideDemoMode(appId: string) {
    if (!options.demoMode && appId === DEMO_APP_ID) {
      throw new AppError('AUTHENTICATION_ERROR', 'The demo credentials are accepted only in demo mode.');
    }
  }

  async function requireActiveApp(appId: string, credential: string): Promise<void> {
    const app = await options.cache.getOrLoad(cacheKeys.app(appId), async () => {
      const found = await options.apps.findApp(appId);
      return found && { status: found.status };
    });
    if (!app) throw new AppError('AUTHENTICATION_ERROR', `${credential} names an unknown app.`);
    if (app.status !== 'active') throw new AppError('FORBIDDEN', `App "${appId}" is disabled.`);
  }

  return {
    /** An API key wins; a consumer header is used only where the deployment trusts it. */
    async authenticate(credentials: Credentials): Promise<Caller> {
      if (credentials.apiKey) {
        const keyHash = hashApiKey(credentials.apiKey);
        const owner = await options.cache.getOrLoad(cacheKeys.apiKey(keyHash), () =>
          options.apps.findKeyOwner(keyHash),
        );
        if (!owner) throw new AppError('AUTHENTICATION_ERROR', 'The API key is not valid (unknown or revoked).');
        refuseDemoOutsideDemoMode(owner.appId);
        if (owner.appStatus !== 'active') throw new AppError('FORBIDDEN', `App "${owner.appId}" is disabled.`);
        if (credentials.consumer && credentials.consumer !== owner.appId) {
          throw new AppError('FORBIDDEN', 'x-consumer-username names another app than the API key belongs to.');
        }
        return { appId: owner.appId, apiKeyId: owner.keyId };
      }
      if (credentials.consumer) {
        if (!options.trustConsumerHeader) {
          throw new AppError(
            'AUTHENTICATION_ERROR',
            'x-consumer-username is not trusted by this deployment; send Authorization: Bearer <api key>.',
          );
        }
        refuseDemoOutsideDemoMode(credentials.consumer);
        await requireActiveApp(credentials.consumer, 'x-consumer-username');
        return { appId: credentials.consumer };
      }
      throw new AppError(
        'AUTHENTICATION_ERROR',
        'Missing credentials: send Authorization: Bearer <api key>' +
          (options.trustConsumerHeader ? ' or x-consumer-username.' : '.'),
      );
    },

    /** Checks a WebSocket upgrade's `appid`, `ts`, `signa`; one signature may open several sockets in its window. */
    async verifySignature(params: SignatureInput, nowMs = Date.now()): Promise<Caller> {
      const { appid, ts, signa } = params;
      if (!appid || !ts || !signa) {
        const missing = (['appid', 'ts', 'signa'] as const).filter((name) => !params[name]);
        throw new AppError('AUTHENTICATION_ERROR', `Missing query parameter(s): ${missing.join(', ')}.`);
      }
      if (!/^\d{1,13}$/.test(ts)) {
        throw new AppError('AUTHENTICATION_ERROR', 'ts must be a Unix time in seconds or milliseconds.');
      }
      // 11 digits or more is milliseconds (`Date.now()`, as the design document's sample sends); the window is the same.
      const seconds = ts.length >= 11 ? Number(ts) / 1000 : Number(ts);
      if (Math.abs(nowMs / 1000 - seconds) > options.signatureWindowSeconds) {
        throw new AppError(
          'AUTHENTICATION_ERROR',
          `ts is outside the accepted window of ±${options.signatureWindowSeconds} s; sign again with the current time.`,
        );
      }
      refuseDemoOutsideDemoMode(appid);
      const secrets = await options.apps.findSecrets(appid);
      const valid = secrets.find(({ secret }) => safeEqual(signWebSocketRequest({ appid, ts, secret }), signa));
      if (!valid) throw new AppError('AUTHENTICATION_ERROR', 'The signature (signa) does not match appid and ts.');
      return { appId: appid, secretId: valid.id };
    },

    /**
     * A follow token for a run this caller started with an API key (none for a gateway's consumer
     * header: behind a gateway, the gateway authenticates the follower's request too).
     */
    issueFollowToken(credentials: Credentials, caller: Caller, runId: string, nowMs = Date.now()): string | undefined {
      if (!credentials.apiKey || caller.apiKeyId === undefined) return undefined;
      const expires = Math.floor(nowMs / 1000) + Math.ceil(options.followTokenTtlSeconds);
      const fields = { appId: caller.appId, keyId: caller.apiKeyId, runId, expires };
      const mac = followTokenMac(hashApiKey(credentials.apiKey), fields);
      const app = Buffer.from(caller.appId).toString('base64url');
      return `${FOLLOW_TOKEN_VERSION}.${app}.${caller.apiKeyId}.${expires}.${mac}`;
    },

    /** The caller a follow token stands for, on the run it was issued for only, while its key and app are active. */
    async authenticateFollowToken(token: string, runId: string, nowMs = Date.now()): Promise<Caller> {
      const refused = (why: string) => new AppError('AUTHENTICATION_ERROR', `The follow token ${why}.`);
      const [version, app = '', keyId = '', expiresText = '', mac = '', ...rest] = token.split('.');
      if (version !== FOLLOW_TOKEN_VERSION || rest.length > 0 || !/^\d{1,12}$/.test(expiresText) || !mac) {
        throw refused('is malformed; use the x-astron-follow-token of the response that started the run');
      }
      const expires = Number(expiresText);
      if (expires < nowMs / 1000) throw refused('has expired; resume with Authorization: Bearer <api key>');
      const appId = Buffer.from(app, 'base64url').toString('utf8');
      // Cached: a browser's EventSource presents the token again on every reconnect.
      const keyHash = await options.cache.getOrLoad(
        cacheKeys.keyHash(appId, keyId),
        async () => (await options.apps.listKeyHashes(appId, keyId))[0],
      );
      if (!keyHash || !safeEqual(followTokenMac(keyHash, { appId, keyId, runId, expires }), mac)) {
        throw refused('is not valid for this run');
      }
      const owner = await options.cache.getOrLoad(cacheKeys.apiKey(keyHash), () => options.apps.findKeyOwner(keyHash));
      if (!owner || owner.appId !== appId) throw refused('belongs to a revoked API key');
      refuseDemoOutsideDemoMode(appId);
      if (owner.appStatus !== 'active') throw new AppError('FORBIDDEN', `App "${appId}" is disabled.`);
      return { appId, apiKeyId: keyId };
    },

    /**
     * For a long-lived connection, before each run it starts: its app must still be active and the
     * secret that signed it still valid. Both lookups are cached and dropped on every admin change,
     * so a disabled app or a revoked secret applies at once. (API keys are checked per call anyway.)
     */
    async recheck(caller: Caller): Promise<void> {
      await requireActiveApp(caller.appId, 'The connection');
      const { secretId } = caller;
      if (secretId === undefined) return;
      const active = await options.cache.getOrLoad(cacheKeys.secretIds(caller.appId), async () =>
        (await options.apps.findSecrets(caller.appId)).map((secret) => secret.id),
      );
      if (!active?.includes(secretId)) {
        throw new AppError(
          'AUTHENTICATION_ERROR',
          'The signing secret this connection was opened with has been revoked; sign again with a valid secret.',
        );
      }
    },
  };
}
export type Authenticator = ReturnType<typeof createAuthenticator>;
