import { createTRPCClient, httpBatchLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from './app-router.ts';
import { linkFetch } from './errors.ts';

/** A typed client for `admin.*` procedures; the token travels as `x-admin-token`. */
export function createAdminClient(options: { url: string; adminToken: string }): TRPCClient<AppRouter> {
  const serverUrl = options.url.replace(/\/+$/, '');
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${serverUrl}/trpc`,
        transformer: superjson,
        headers: { 'x-admin-token': options.adminToken },
        // "cannot connect to <url>" rather than "fetch failed".
        fetch: linkFetch(serverUrl),
      }),
    ],
  });
}
