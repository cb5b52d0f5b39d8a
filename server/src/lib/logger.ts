import { pino, type Logger } from 'pino';

/** JSON lines on stdout; secrets are redacted wherever they appear in a logged object. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'astron-chat' },
    redact: {
      paths: ['*.authorization', '*.apiKey', '*.secret', '*.signa', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
