import type { TransportDependencies } from '../transport-dependencies.ts';
import { createAdminRouter } from './admin.router.ts';
import { createChatRouter } from './chat.router.ts';
import { createTrpc } from './trpc.ts';

/** The whole tRPC API; `@astron-chat/client` is typed from `AppRouter`. */
export function createAppRouter(dependencies: TransportDependencies) {
  const trpc = createTrpc(dependencies);
  return trpc.t.router({
    chat: createChatRouter(trpc, dependencies),
    admin: createAdminRouter(trpc, dependencies),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
export { createTrpcContext } from './trpc-context.ts';
