import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../../errors/app-error.ts';

/** The files of `swagger-ui-dist` the page loads, with their types; nothing else is served. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>astron-chat API reference</title>
  <link rel="icon" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

/**
 * `GET /docs`: Swagger UI over `/openapi.json`, from the `swagger-ui-dist` package on this server (no CDN,
 * works offline). "Try it out" is on; in demo mode the demo key is filled in, so a request runs at once.
 */
export function createDocsRoutes(options: { demoMode: boolean; openApiText: () => string }) {
  const root = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const init = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
  tryItOutEnabled: true,
  deepLinking: true,
  persistAuthorization: false,
  onComplete: () => { ${options.demoMode ? "window.ui.preauthorizeApiKey('apiKey', 'sk-demo');" : ''} },
});
`;
  const cache = new Map<string, Buffer>();

  return {
    /** `GET /openapi.json`. */
    handleOpenApi: (_request: IncomingMessage, response: ServerResponse): Promise<void> => {
      const text = options.openApiText();
      response.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      response.end(text);
      return Promise.resolve();
    },
    handlePage: (_request: IncomingMessage, response: ServerResponse): Promise<void> => {
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(PAGE),
      });
      response.end(PAGE);
      return Promise.resolve();
    },
    handleFile: async (
      _request: IncomingMessage,
      response: ServerResponse,
      _requestId: string,
      [file = '']: string[],
    ) => {
      if (file === 'init.js') {
        response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        response.end(init);
        return;
      }
      const type = ASSETS[file];
      if (!type) throw new AppError('NOT_FOUND', `No file /docs/${file}.`);
      let body = cache.get(file);
      if (!body) {
        body = await readFile(path.join(root, file));
        cache.set(file, body);
      }
      response.writeHead(200, {
        'content-type': type,
        'content-length': body.length,
        'cache-control': 'public, max-age=3600',
      });
      response.end(body);
    },
  };
}
