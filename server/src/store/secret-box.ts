import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../errors/app-error.ts';

/** Stored form: `enc:v1:<key id>:<base64url of iv ‖ tag ‖ ciphertext>`; anything else is a legacy clear value. */
const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type SecretKeySource = 'configured' | 'demo';

/**
 * Encryption at rest for provider API keys, provider headers and app signing secrets: AES-256-GCM
 * with the server's SECRETS_KEY. Without a key (outside demo mode) nothing can be sealed: callers
 * that must not store a secret in clear refuse; values stored before encryption still open.
 */
export type SecretBox = {
  /** `undefined` when the server has no key. */
  readonly source: SecretKeySource | undefined;
  /** Short fingerprint of the key (not the key), written with each sealed value. */
  readonly keyId: string | undefined;
  seal(plain: string): string;
  /** Opens a sealed value; a value that is not sealed (stored before encryption) comes back as it is. */
  open(stored: string): string;
  isSealed(stored: string): boolean;
};

export function createSecretBox(key: { bytes: Buffer; source: SecretKeySource } | undefined): SecretBox {
  const keyId = key ? createHash('sha256').update(key.bytes).digest('hex').slice(0, 8) : undefined;
  return {
    source: key?.source,
    keyId,
    seal(plain) {
      if (!key || !keyId) {
        throw new AppError(
          'VALIDATION_ERROR',
          'This server has no SECRETS_KEY, so it cannot store secrets encrypted: set SECRETS_KEY ' +
            '(32 random bytes as base64 or 64 hex digits, e.g. `openssl rand -base64 32`) and restart it.',
        );
      }
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `${PREFIX}${keyId}:${Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64url')}`;
    },
    open(stored) {
      if (!stored.startsWith(PREFIX)) return stored;
      const [storedKeyId = '', payload = ''] = stored.slice(PREFIX.length).split(':', 2);
      if (!key || storedKeyId !== keyId) {
        throw new AppError(
          'WORKFLOW_ERROR',
          `A stored secret was encrypted with another SECRETS_KEY (key id ${storedKeyId}; this server's is ` +
            `${keyId ?? 'not set'}): start the server with the key it was stored with.`,
        );
      }
      const bytes = Buffer.from(payload, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    },
    isSealed: (stored) => stored.startsWith(PREFIX),
  };
}
