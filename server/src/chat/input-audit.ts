import type { BotDefinition } from '@astron-chat/shared';
import { request as undiciRequest } from 'undici';
import { AppError, isAbortError } from '../errors/app-error.ts';
import type { ModelMessage } from '../providers/chat-model.ts';
import { createHttpCaller, isPrivateAddress } from '../workflow/http-call.ts';

export type InputAuditOptions = {
  /** INPUT_BLOCKED_TERMS: refused when the question or an input contains one (case-insensitive). */
  blockedTerms: string[];
  /** INPUT_MAX_CHARS: longest question plus inputs, characters. */
  maxInputChars: number;
  /** INPUT_MAX_PART_BYTES: largest inline data of one content part (image, audio, file), bytes. */
  maxPartBytes: number;
  /** MODERATION_URL (+ MODERATION_API_KEY, MODERATION_MODEL): an OpenAI-compatible `/moderations` endpoint. */
  moderation?: { url: string; apiKey?: string | undefined; model?: string | undefined } | undefined;
  files: {
    /** FILE_URL_ALLOWLIST: origins file URLs must come from; empty allows any public https host. */
    allowedOrigins: string[];
    /** FILE_ALLOWED_TYPES: file name extensions, lower case, without the dot. */
    allowedTypes: string[];
    /** FILE_MAX_BYTES: checked with a HEAD request when the origin is allow-listed. */
    maxBytes: number;
  };
};

type AuditedRequest = { messages: ModelMessage[]; inputs?: Record<string, unknown> | undefined };

const MODERATION_TIMEOUT_MS = 5_000;
const FILE_HEAD_TIMEOUT_MS = 5_000;

/**
 * The checks a request passes before anything runs (design: 验证文件输入 → 输入内容审核): size,
 * blocked terms, an optional moderation endpoint, and file URLs in `parameters`. Refusals are
 * AppErrors with the field to blame: VALIDATION_ERROR for bad input, FORBIDDEN for policy refusals.
 */
export function createInputAudit(options: InputAuditOptions) {
  const terms = options.blockedTerms.map((term) => term.trim().toLowerCase()).filter(Boolean);
  const fileOrigins = new Set(options.files.allowedOrigins.map((origin) => new URL(origin).origin));
  const fileHead =
    fileOrigins.size > 0 ? createHttpCaller({ allowlist: [...fileOrigins], allowPrivateNetwork: false }) : undefined;

  async function checkFile(value: unknown, param: string, signal: AbortSignal): Promise<void> {
    if (typeof value !== 'string')
      throw new AppError('VALIDATION_ERROR', `${param}: a file input is a URL string.`, { param });
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new AppError('VALIDATION_ERROR', `${param}: "${value.slice(0, 100)}" is not a URL.`, { param });
    }
    const allowListed = fileOrigins.has(url.origin);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowListed)) {
      throw new AppError('VALIDATION_ERROR', `${param}: file URLs must use https.`, { param });
    }
    if (fileOrigins.size > 0 && !allowListed) {
      throw new AppError('VALIDATION_ERROR', `${param}: ${url.origin} is not an allowed file origin.`, { param });
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!allowListed && (host === 'localhost' || (/^[\d.]+$|:/.test(host) && isPrivateAddress(host)))) {
      throw new AppError('VALIDATION_ERROR', `${param}: file URLs may not point at private addresses.`, { param });
    }
    const extension = /\.([a-z0-9]{1,8})$/i.exec(url.pathname)?.[1]?.toLowerCase();
    if (!extension || !options.files.allowedTypes.includes(extension)) {
      throw new AppError(
        'VALIDATION_ERROR',
        `${param}: file type ${extension ? `".${extension}"` : '(none)'} is not allowed; allowed: ${options.files.allowedTypes.join(', ')}.`,
        { param },
      );
    }
    if (!fileHead || !allowListed) return;
    let size: number;
    try {
      const head = await fileHead.call(
        { method: 'HEAD', url: url.href, timeoutMs: FILE_HEAD_TIMEOUT_MS, maxResponseBytes: 1 },
        signal,
      );
      size = Number(head.headers['content-length'] ?? Number.NaN);
    } catch (error) {
      if (signal.aborted || isAbortError(error)) throw error;
      throw new AppError('VALIDATION_ERROR', `${param}: the file could not be checked (${(error as Error).message}).`, {
        param,
      });
    }
    if (Number.isFinite(size) && size > options.files.maxBytes) {
      throw new AppError(
        'VALIDATION_ERROR',
        `${param}: the file is ${size} bytes, over the limit of ${options.files.maxBytes}.`,
        {
          param,
        },
      );
    }
  }

  async function moderate(text: string, signal: AbortSignal): Promise<void> {
    const moderation = options.moderation;
    if (!moderation || text.trim() === '') return;
    let flagged: string[] | undefined;
    try {
      const response = await undiciRequest(moderation.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(moderation.apiKey ? { authorization: `Bearer ${moderation.apiKey}` } : {}),
        },
        body: JSON.stringify({ input: text, ...(moderation.model ? { model: moderation.model } : {}) }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(MODERATION_TIMEOUT_MS)]),
      });
      const body = (await response.body.json()) as {
        results?: Array<{ flagged?: boolean; categories?: Record<string, boolean> }>;
      };
      if (response.statusCode >= 400 || !Array.isArray(body.results)) throw new Error(`HTTP ${response.statusCode}`);
      const hit = body.results.find((result) => result.flagged);
      flagged = hit
        ? Object.entries(hit.categories ?? {})
            .filter(([, on]) => on)
            .map(([name]) => name)
        : undefined;
    } catch (error) {
      if (signal.aborted) throw error;
      // Fail closed: an unchecked input is not let through.
      throw new AppError('UPSTREAM_ERROR', 'The moderation service could not check the input; try again.', {
        retryable: true,
        cause: error,
      });
    }
    if (flagged) {
      throw new AppError(
        'FORBIDDEN',
        `The input was refused by content moderation${flagged.length > 0 ? ` (${flagged.join(', ')})` : ''}.`,
        { param: 'messages' },
      );
    }
  }

  return {
    async check(request: AuditedRequest, definition: BotDefinition, signal: AbortSignal): Promise<void> {
      const question = request.messages.at(-1)?.content ?? '';
      const inputs = request.inputs ?? {};
      const inputText = Object.values(inputs)
        .filter((value) => typeof value === 'string')
        .join('\n');
      const length = question.length + inputText.length;
      if (length > options.maxInputChars) {
        throw new AppError(
          'VALIDATION_ERROR',
          `The input is ${length} characters, over the limit of ${options.maxInputChars}.`,
          {
            param: 'messages',
          },
        );
      }
      checkPartSizes(request.messages, options.maxPartBytes);
      const haystack = `${question}\n${inputText}`.toLowerCase();
      const term = terms.find((candidate) => haystack.includes(candidate));
      if (term !== undefined) {
        throw new AppError(
          'FORBIDDEN',
          `The input was refused by the input policy: it contains the blocked term "${term}".`,
          {
            param: 'messages',
          },
        );
      }
      const files: Array<{ value: unknown; param: string }> = [];
      if (definition.kind === 'workflow') {
        for (const node of definition.nodes) {
          if (node.type !== 'start') continue;
          for (const input of node.inputs) {
            if (input.type === 'file' && inputs[input.name] !== undefined && inputs[input.name] !== '') {
              files.push({ value: inputs[input.name], param: `parameters.${input.name}` });
            }
          }
        }
      }
      if (inputs.files !== undefined) {
        if (!Array.isArray(inputs.files)) {
          throw new AppError('VALIDATION_ERROR', 'parameters.files: a list of file URLs is expected.', {
            param: 'parameters.files',
          });
        }
        inputs.files.forEach((value, index) => files.push({ value, param: `parameters.files.${index}` }));
      }
      await Promise.all(files.map((file) => checkFile(file.value, file.param, signal)));
      await moderate(`${question}\n${inputText}`.trim(), signal);
    },
  };
}
export type InputAudit = ReturnType<typeof createInputAudit>;

/** Inline data (data: URLs, base64 audio and files) is bounded per part; URLs and file ids are references. */
function checkPartSizes(messages: ModelMessage[], maxPartBytes: number): void {
  for (const [messageIndex, message] of messages.entries()) {
    if (message.role !== 'user' || !message.parts) continue;
    for (const [partIndex, part] of message.parts.entries()) {
      const inline =
        part.type === 'image_url'
          ? part.image_url.url.startsWith('data:')
            ? part.image_url.url
            : ''
          : part.type === 'input_audio'
            ? part.input_audio.data
            : part.type === 'file'
              ? (part.file.file_data ?? '')
              : '';
      if (inline.length > maxPartBytes) {
        const param = `messages.${messageIndex}.content.${partIndex}`;
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `${param}: the ${part.type} part holds ${inline.length} bytes of inline data, over the limit of ${maxPartBytes} (INPUT_MAX_PART_BYTES); send a URL instead.`,
          { param },
        );
      }
    }
  }
}
