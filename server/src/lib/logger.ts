import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';

export type LogFileOptions = {
  /** LOG_FILE: the log file; rotated files get a date and a number before the extension. */
  path: string;
  /** LOG_FILE_MAX_SIZE: rotate at this size (`10m`). */
  maxSize: string;
  /** LOG_FILE_RETENTION_DAYS: rotated files older than this are deleted. */
  retentionDays: number;
};

const REDACT = {
  paths: ['*.authorization', '*.apiKey', '*.secret', '*.signa', 'req.headers.authorization'],
  censor: '[redacted]',
};

/**
 * JSON lines on stdout; secrets are redacted wherever they appear in a logged object. With a log
 * file, the same lines also go to it through pino-roll (in pino's worker thread), rotated daily
 * and at `maxSize`, and rotated files past the retention are deleted hourly.
 */
export function createLogger(level: string, file?: LogFileOptions): Logger {
  const options = { level, base: { service: 'astron-chat' }, redact: REDACT };
  if (!file) return pino(options);
  const extension = path.extname(file.path) || '.log';
  const transport = pino.transport({
    targets: [
      { target: 'pino/file', level, options: { destination: 1 } },
      {
        target: 'pino-roll',
        level,
        options: {
          file: file.path.slice(0, file.path.length - path.extname(file.path).length),
          extension,
          size: file.maxSize,
          frequency: 'daily',
          dateFormat: 'yyyy-MM-dd',
          mkdir: true,
        },
      },
    ],
  });
  const logger = pino(options, transport);
  const sweep = () =>
    deleteOldLogFiles(file.path, file.retentionDays).catch((error: unknown) =>
      logger.warn({ err: error }, 'could not delete old log files'),
    );
  void sweep();
  setInterval(() => void sweep(), 3_600_000).unref();
  return logger;
}

/** Deletes `name.<date>.<n>.ext` files beside `file` last written more than `days` days ago. */
export async function deleteOldLogFiles(file: string, days: number, now = Date.now()): Promise<string[]> {
  const folder = path.dirname(file);
  const extension = path.extname(file) || '.log';
  const stem = path.basename(file, path.extname(file));
  const rotated = new RegExp(`^${escape(stem)}\\.(\\d{4}-\\d{2}-\\d{2}\\.)?\\d+${escape(extension)}$`);
  const deleted: string[] = [];
  for (const name of await readdir(folder).catch(() => [])) {
    if (!rotated.test(name)) continue;
    const full = path.join(folder, name);
    const { mtimeMs } = await stat(full);
    if (now - mtimeMs > days * 86_400_000) {
      await unlink(full);
      deleted.push(name);
    }
  }
  return deleted;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
