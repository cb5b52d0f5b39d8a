import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseSecretsKey } from '../config/config.ts';
import { createSecretBox } from './secret-box.ts';

describe('the secret box', () => {
  const box = createSecretBox({ bytes: randomBytes(32), source: 'configured' });

  it('seals with a fresh IV every time and opens what it sealed; a value stored in clear opens as it is', () => {
    const first = box.seal('sk-very-secret');
    expect(first).toMatch(/^enc:v1:[0-9a-f]{8}:/);
    expect(first).not.toContain('sk-very-secret');
    expect(box.seal('sk-very-secret')).not.toBe(first);
    expect(box.open(first)).toBe('sk-very-secret');
    expect(box.open('legacy-clear-secret')).toBe('legacy-clear-secret');
  });

  it('refuses a value sealed with another key, saying so, and a tampered one', () => {
    const other = createSecretBox({ bytes: randomBytes(32), source: 'configured' });
    expect(() => other.open(box.seal('x'))).toThrow(/another SECRETS_KEY/);
    const sealed = box.seal('tamper me');
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    expect(() => box.open(flipped)).toThrow();
  });

  it('without a key seals nothing and names SECRETS_KEY', () => {
    expect(() => createSecretBox(undefined).seal('x')).toThrow(/SECRETS_KEY/);
  });

  it('reads SECRETS_KEY as 64 hex digits or base64 of 32 bytes, and refuses anything else by name', () => {
    const bytes = randomBytes(32);
    expect(parseSecretsKey(bytes.toString('hex'))).toEqual(bytes);
    expect(parseSecretsKey(bytes.toString('base64'))).toEqual(bytes);
    expect(parseSecretsKey(bytes.toString('base64url'))).toEqual(bytes);
    expect(parseSecretsKey('too-short')).toBeUndefined();
    expect(() => loadConfig({ SECRETS_KEY: 'too-short' })).toThrow(/SECRETS_KEY/);
    expect(loadConfig({ DEMO_MODE: '1' }).secretsKey?.source).toBe('demo');
    expect(loadConfig({ DEMO_MODE: '0' }).secretsKey).toBeUndefined();
  });
});
