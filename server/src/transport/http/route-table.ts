import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppError } from '../../errors/app-error.ts';

export type Route = (
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  /** Values of the path's `{name}` segments, in order. */
  params: string[],
) => Promise<void>;

export type RouteEntry = {
  method: string;
  /** Literal segments and `{name}` placeholders, e.g. `/agent/v1/chats/{chat_id}/messages`. */
  path: string;
  route: Route;
  /** Answers an error in the caller's format (Astron or OpenAI). */
  onError: (response: ServerResponse, error: AppError, requestId: string) => void;
};

/** Exact paths are one map lookup; paths with placeholders are tried in order after that. */
export function createRouteTable(entries: RouteEntry[]) {
  const exact = new Map<string, RouteEntry>();
  const patterns: Array<{ entry: RouteEntry; pattern: RegExp }> = [];
  for (const entry of entries) {
    if (entry.path.includes('{')) {
      const source = entry.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)');
      patterns.push({ entry, pattern: new RegExp(`^${source}$`) });
    } else {
      exact.set(`${entry.method} ${entry.path}`, entry);
    }
  }
  return {
    match(method: string, path: string): { entry: RouteEntry; params: string[] } | undefined {
      const found = exact.get(`${method} ${path}`);
      if (found) return { entry: found, params: [] };
      for (const { entry, pattern } of patterns) {
        if (entry.method !== method) continue;
        const result = pattern.exec(path);
        if (result) return { entry, params: result.slice(1).map(decodeSegment) };
      }
      return undefined;
    },
  };
}

function decodeSegment(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a malformed escape is taken literally, and simply matches nothing stored
  }
}
