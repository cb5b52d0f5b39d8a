import type { OpenAIForwardedFields, OpenAITool, OpenAIToolChoice } from '@astron-chat/shared';
import type { ModelMessage, ModelParameters } from '../providers/chat-model.ts';

/** A chat request after a transport has parsed it; the same for every transport. */
export type ChatRequest = {
  botId: string;
  uid: string;
  chatId?: string | undefined;
  /** Earlier turns and the question (last). */
  messages: ModelMessage[];
  parameters: ModelParameters;
  tools?: OpenAITool[] | undefined;
  toolChoice?: OpenAIToolChoice | undefined;
  /** OpenAI fields forwarded to a chat bot's upstream as they are (other bots refuse them). */
  forwarded?: OpenAIForwardedFields | undefined;
  caller?: string | undefined;
  callerSid?: string | undefined;
  /** Set by the run manager when the id must be known before the run starts (idempotency). */
  runId?: string | undefined;
  /** Workflow inputs (the Astron body's extra `parameters` fields). */
  inputs?: Record<string, unknown> | undefined;
};

/** Who asks and through what; set by the transport after authentication. */
export type ChatContext = {
  appId: string;
  apiKeyId?: string | undefined;
  requestId: string;
  transport: 'astron' | 'openai' | 'trpc' | 'ws';
};
