// The server's router type, for the published declarations. Import it with `import type` only.
// `AppRouter` is spelled out from an inferred return type, so the declaration build writes the router's
// whole type (procedures, inputs, outputs) and none of the server's wiring (database, logger, cache types).
import type { createAppRouter } from '../../server/src/transport/trpc/trpc.router.ts';

declare const createRouter: typeof createAppRouter;
function _buildRouter() {
  return createRouter(null as never);
}
export type AppRouter = ReturnType<typeof _buildRouter>;
