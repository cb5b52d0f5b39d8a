import type {
  ChatEventBody,
  FinishReason,
  OpenAIForwardedFields,
  OpenAITool,
  OpenAIToolChoice,
  Usage,
} from '@astron-chat/shared';
import type { ModelCallContext, ModelMessage, ModelParameters } from '../providers/chat-model.ts';

/** What a bot is run with: the conversation so far and the caller's parameters. */
export type BotInput = {
  /** History and the question (last); the bot adds its own system prompt. */
  messages: ModelMessage[];
  parameters: ModelParameters;
  /** Workflow inputs: the request's extra `parameters` fields. */
  inputs: Record<string, unknown>;
  tools?: OpenAITool[] | undefined;
  toolChoice?: OpenAIToolChoice | undefined;
  /** OpenAI fields a chat bot forwards to its upstream (the core refuses them for other bots). */
  forwarded?: OpenAIForwardedFields | undefined;
  /** Passed to every model call (`ModelRequest.trackUnreportedUsage`). */
  trackUnreportedUsage?: ((usage: Promise<Usage | undefined>) => void) | undefined;
  user: string;
  /** Told about every workflow node run as it settles (the core stores them with the run). */
  onNodeRun?: ((nodeRun: NodeRunReport) => void) | undefined;
  /** Runs another bot of the same app (agents' `bot` tools). */
  runBot?: ((botId: string, question: string, signal: AbortSignal) => AsyncIterable<ExecutionPart>) | undefined;
  /** How deep in bots-calling-bots this run is; 0 for the caller's own. */
  depth?: number | undefined;
  /** Tracing (observability/): runs one node attempt in its span; unset when tracing is off. */
  traceAttempt?:
    | (<Value>(node: { id: string; type: string }, attempt: number, work: () => Promise<Value>) => Promise<Value>)
    | undefined;
  /** Passed to every model call: the app (provider allow-lists) and who hears which provider answered. */
  modelContext?: ModelCallContext | undefined;
};

/**
 * What executing a bot streams. `usage` parts are per model call and add up; `finish` comes once,
 * last. Everything else is forwarded to the caller as it happens.
 */
export type ExecutionPart =
  | Extract<
      ChatEventBody,
      {
        type:
          | 'text-delta'
          | 'reasoning-delta'
          | 'tool-call'
          | 'step-start'
          | 'step-end'
          | 'usage'
          | 'logprobs'
          | 'audio-delta';
      }
    >
  | { type: 'finish'; finishReason: FinishReason };

export type BotExecution = {
  /** Shown to callers as `model`. */
  modelName: string;
  run(input: BotInput, signal: AbortSignal): AsyncIterable<ExecutionPart>;
};

/**
 * One node of one run, as the engine reports it through `BotInput.onNodeRun`. The engine owns this
 * shape; whoever stores it (the core, into `store/node-run.repository.ts`) takes it as it is.
 */
export type NodeRunReport = {
  nodeId: string;
  nodeType: string;
  status: 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'timeout';
  attempts: number;
  startedAt: number;
  finishedAt: number | undefined;
  usage: Usage;
  error?: { code: number; message: string };
  /** How a failure was absorbed: `default` output or `fail-branch`. */
  strategy?: 'default' | 'fail-branch';
  output?: Record<string, unknown>;
};
