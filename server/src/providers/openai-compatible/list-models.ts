import type { Dispatcher } from 'undici';
import { sendUpstream } from './upstream-response.ts';

const MAX_LIST_BYTES = 1024 * 1024;

/**
 * The model ids an OpenAI-compatible provider lists (`GET {baseUrl}/models`), or undefined when it
 * cannot say (no such endpoint, unreachable, not the OpenAI shape): callers then skip the check.
 */
export async function listProviderModels(options: {
  baseUrl: string;
  headers: Record<string, string>;
  dispatcher?: Dispatcher | undefined;
  timeoutMs: number;
}): Promise<string[] | undefined> {
  const url = new URL('models', options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  try {
    const response = await sendUpstream(url, {
      method: 'GET',
      headers: { ...options.headers, accept: 'application/json' },
      body: null,
      signal: AbortSignal.timeout(options.timeoutMs),
      dispatcher: options.dispatcher,
    });
    const pieces: Buffer[] = [];
    let size = 0;
    try {
      for (let bytes = await response.read(); bytes !== undefined; bytes = await response.read()) {
        pieces.push(bytes);
        size += bytes.length;
        if (size > MAX_LIST_BYTES) return undefined;
      }
    } finally {
      response.close();
    }
    if (response.statusCode !== 200) return undefined;
    const body = JSON.parse(Buffer.concat(pieces).toString('utf8')) as { data?: Array<{ id?: unknown }> };
    if (!Array.isArray(body.data)) return undefined;
    return body.data.flatMap((model) => (typeof model.id === 'string' ? [model.id] : []));
  } catch {
    return undefined;
  }
}
