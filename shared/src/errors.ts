/**
 * The one error table (SPEC §7). Every transport maps an error through it: the Astron `code`,
 * the HTTP status, the tRPC code and the OpenAI error `type`.
 */
export const errorTable = {
  VALIDATION_ERROR: {
    code: 1001,
    httpStatus: 400,
    trpcCode: 'BAD_REQUEST',
    openaiType: 'invalid_request_error',
    retryable: false,
  },
  AUTHENTICATION_ERROR: {
    code: 1002,
    httpStatus: 401,
    trpcCode: 'UNAUTHORIZED',
    openaiType: 'authentication_error',
    retryable: false,
  },
  RATE_LIMIT_ERROR: {
    code: 1003,
    httpStatus: 429,
    trpcCode: 'TOO_MANY_REQUESTS',
    openaiType: 'rate_limit_error',
    retryable: true,
  },
  WORKFLOW_ERROR: {
    code: 1004,
    httpStatus: 500,
    trpcCode: 'INTERNAL_SERVER_ERROR',
    openaiType: 'server_error',
    retryable: false,
  },
  TIMEOUT_ERROR: { code: 1005, httpStatus: 504, trpcCode: 'TIMEOUT', openaiType: 'timeout_error', retryable: true },
  UNKNOWN_ERROR: {
    code: 1006,
    httpStatus: 500,
    trpcCode: 'INTERNAL_SERVER_ERROR',
    openaiType: 'server_error',
    retryable: false,
  },
  FORBIDDEN: { code: 1007, httpStatus: 403, trpcCode: 'FORBIDDEN', openaiType: 'permission_error', retryable: false },
  NOT_FOUND: { code: 1008, httpStatus: 404, trpcCode: 'NOT_FOUND', openaiType: 'not_found_error', retryable: false },
  UPSTREAM_ERROR: {
    code: 1009,
    httpStatus: 502,
    trpcCode: 'INTERNAL_SERVER_ERROR',
    openaiType: 'api_error',
    retryable: false,
  },
  OVERLOADED: {
    code: 1010,
    httpStatus: 503,
    trpcCode: 'TOO_MANY_REQUESTS',
    openaiType: 'overloaded_error',
    retryable: true,
  },
  PAYLOAD_TOO_LARGE: {
    code: 1011,
    httpStatus: 413,
    trpcCode: 'PAYLOAD_TOO_LARGE',
    openaiType: 'invalid_request_error',
    retryable: false,
  },
} as const;

export type ErrorName = keyof typeof errorTable;
export type ErrorCode = (typeof errorTable)[ErrorName]['code'];

const nameByCode = new Map<number, ErrorName>(
  Object.entries(errorTable).map(([name, entry]) => [entry.code, name as ErrorName]),
);

export function errorNameOf(code: number): ErrorName {
  return nameByCode.get(code) ?? 'UNKNOWN_ERROR';
}

/** The shape every error takes on the wire before transport-specific framing. */
export type ErrorPayload = {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** Dotted path of the offending field, when one field is to blame. */
  param?: string;
};

export const SUCCESS_CODE = 0;
export const SUCCESS_MESSAGE = 'success';

export function httpStatusOfCode(code: number): number {
  return errorTable[errorNameOf(code)].httpStatus;
}
