import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

/** Paths that belong to the API: never answered with the console's page, so they keep their JSON 404s. */
const API_PREFIXES = ['/v1', '/agent', '/trpc', '/tools', '/health', '/metrics'];

export function isApiPath(urlPath: string): boolean {
  return API_PREFIXES.some((prefix) => urlPath === prefix || urlPath.startsWith(`${prefix}/`));
}

/**
 * The built web console (Vite's output folder): its files by exact path, `index.html` for every other
 * GET of a non-API path (the page routes itself). Hashed files under `/assets/` are cached for a year;
 * the page itself is revalidated every time so a new build is picked up at once.
 */
export function createConsoleFiles(options: { directory: string }) {
  const root = path.resolve(options.directory);

  async function read(relative: string): Promise<Buffer | undefined> {
    const file = path.resolve(root, `.${relative}`);
    if (file !== root && !file.startsWith(`${root}${path.sep}`)) return undefined;
    try {
      return await readFile(file);
    } catch {
      return undefined;
    }
  }

  /** Answers GET/HEAD of a non-API path; false when the request is not the console's. */
  async function serve(request: IncomingMessage, response: ServerResponse, urlPath: string): Promise<boolean> {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || isApiPath(urlPath)) return false;
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return false;
    }
    if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').includes('..')) return false;
    const extension = path.extname(decoded);
    const isFile = extension !== '' || decoded.startsWith('/assets/');
    const asset = isFile ? await read(decoded) : undefined;
    // A missing file is a 404, not the page: a stale asset name must fail visibly.
    if (!asset && isFile && decoded !== '/index.html') return false;
    const body = asset ?? (await read('/index.html'));
    if (!body) {
      const text = 'The web console is not built: run `npm run build` (npm start does it).\n';
      response.writeHead(404, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      response.end(request.method === 'HEAD' ? undefined : text);
      return true;
    }
    const type = asset ? (CONTENT_TYPES[extension] ?? 'application/octet-stream') : CONTENT_TYPES['.html'];
    response.writeHead(200, {
      'content-type': type ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': asset && decoded.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(type === CONTENT_TYPES['.html'] ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : {}),
    });
    response.end(request.method === 'HEAD' ? undefined : body);
    return true;
  }

  return { serve };
}

/** The page loads only its own scripts and styles and talks only to this origin (ws: for tRPC). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
