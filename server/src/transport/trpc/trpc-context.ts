import type { IncomingMessage } from 'node:http';
import { errorTable } from '@astron-chat/shared';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { toAppError } from '../../errors/app-error.ts';
import type { Caller, Credentials, SignatureInput } from '../../auth/authenticator.ts';
import { credentialsFromHeaders, firstHeader, requestIdOf } from '../http/http-io.ts';

/** Per request (HTTP) or per connection (WebSocket): what the caller presented, not yet checked. */
export type TrpcContext = {
  requestId: string;
  credentials: Credentials;
  signature: SignatureInput | undefined;
  /** `x-admin-token`, for the admin procedures. */
  adminToken: string | undefined;
  /**
   * When the request arrived or the WebSocket opened, ms: a signature's time window applies then,
   * not at each call on a long-lived socket.
   */
  openedAt: number;
  /** The signature's check, made once per context (WebSocket: per socket); revocation is checked per call. */
  signatureCheck?: Promise<Caller> | undefined;
};

const connectionParamsSchema = z
  .object({
    apiKey: z.string().optional(),
    appid: z.string().optional(),
    ts: z.union([z.string(), z.number()]).optional(),
    signa: z.string().optional(),
  })
  .nullable();

export type TrpcContextFactory = (options: {
  req: IncomingMessage;
  info: { connectionParams: Record<string, string | undefined> | null };
}) => TrpcContext;

/** Builds the context from headers and `connectionParams` (`{apiKey}` or `{appid, ts, signa}`). */
export const createTrpcContext: TrpcContextFactory = (options) => {
  const fromHeaders = credentialsFromHeaders(options.req.headers);
  const params = connectionParamsSchema.safeParse(options.info.connectionParams);
  const connection = params.success ? params.data : null;
  return {
    requestId: requestIdOf(options.req.headers),
    openedAt: Date.now(),
    adminToken: firstHeader(options.req.headers['x-admin-token']),
    credentials: { apiKey: connection?.apiKey ?? fromHeaders.apiKey, consumer: fromHeaders.consumer },
    signature: connection?.appid
      ? {
          appid: connection.appid,
          ts: connection.ts === undefined ? '' : String(connection.ts),
          signa: connection.signa ?? '',
        }
      : undefined,
  };
};

export function toTrpcError(error: unknown): TRPCError {
  if (error instanceof TRPCError) return error;
  const appError = toAppError(error);
  return new TRPCError({ code: errorTable[appError.errorName].trpcCode, message: appError.message, cause: appError });
}
