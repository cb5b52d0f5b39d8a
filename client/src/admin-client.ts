import { createTRPCClient, httpBatchLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from './app-router.ts';

/** A typed client for `admin.*` procedures; the token travels as `x-admin-token`. */
export function createAdminClient(options: { url: string; adminToken: string }): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${options.url.replace(/\/+$/, '')}/trpc`,
        transformer: superjson,
        headers: { 'x-admin-token': options.adminToken },
      }),
    ],
  });
}
