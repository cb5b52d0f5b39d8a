import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TransportDependencies } from '../transport-dependencies.ts';
import { credentialsFromHeaders, sendJson } from '../http/http-io.ts';

/** `GET /agent/v1/runs/{run_id}`: a run and its node runs, for the caller's app only. */
export function createRunReadRoute(dependencies: TransportDependencies) {
  return async function handleRun(
    request: IncomingMessage,
    response: ServerResponse,
    _requestId: string,
    params: string[],
  ) {
    const caller = await dependencies.authenticator.authenticate(credentialsFromHeaders(request.headers));
    const run = await dependencies.runReads.get(caller.appId, params[0] ?? '');
    sendJson(response, 200, { ...run, code: 0, message: 'success' });
  };
}
