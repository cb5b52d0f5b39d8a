import type { IncomingHttpHeaders } from 'node:http';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { FinishReason, Usage } from '@astron-chat/shared';
import type { ModelRequest } from '../providers/chat-model.ts';
import type { RunRecord } from '../store/run.repository.ts';

/** A model call's span, while it streams. */
export type ModelCallSpan = {
  /** W3C trace context headers (`traceparent`, `tracestate`) for the upstream request. */
  headers: Record<string, string>;
  addText(text: string): void;
  end(outcome: {
    usage: Usage | undefined;
    finishReason: FinishReason | undefined;
    errorType: string | undefined;
    error: unknown;
  }): void;
};

export type RunSpan = {
  /** Runs one workflow node attempt in a child span; model and tool calls inside it are its children. */
  traceAttempt: <Value>(
    node: { id: string; type: string },
    attempt: number,
    work: () => Promise<Value>,
  ) => Promise<Value>;
  /** The run's parts with the run span active while each is made, so a chat bot's model call is its child. */
  bind: <Part>(parts: AsyncIterable<Part>) => AsyncIterable<Part>;
  end(record: RunRecord): void;
};

export type HttpSpan = {
  /** Runs `work` with this span active, so what it starts (runs, model calls) are its children. */
  run<Value>(work: () => Value): Value;
  /** `status`: the HTTP answer's; none for a WebSocket message. */
  end(route: string, status?: number): void;
};

const TRACER = 'astron-chat';
let provider: NodeTracerProvider | undefined;
let users = 0;

const tracer = () => trace.getTracer(TRACER);

function ended(span: Span, error: unknown, errorType?: string): void {
  if (error !== undefined || errorType !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error | undefined)?.message ?? errorType ?? '' });
    span.setAttribute('error.type', errorType ?? (error as Error | undefined)?.name ?? 'error');
  }
  span.end();
}

/**
 * Tracing for the whole process (OpenTelemetry's provider is global too). Off unless
 * OTEL_EXPORTER_OTLP_ENDPOINT is set: then the SDK is not even loaded (its modules cost about
 * 0.4 s of start-up CPU and some MB of memory), and every hook in the core is one check of
 * `tracing.enabled`. On, spans go out over OTLP/HTTP (JSON) in batches.
 */
export const tracing = {
  enabled: false,
  captureContent: false,

  /** Loads and starts the SDK once per process (several apps in one test process share it). */
  async start(options: { endpoint: string; captureContent: boolean }): Promise<void> {
    users += 1;
    tracing.captureContent = options.captureContent;
    if (provider) return;
    const [{ OTLPTraceExporter }, { resourceFromAttributes }, sdk] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-node'),
    ]);
    if (provider) return;
    const base = options.endpoint.replace(/\/+$/, '');
    const url = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${base}/v1/traces`;
    provider = new sdk.NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'astron-chat' }),
      spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 500 })],
    });
    // The AsyncLocalStorage context manager and the W3C trace-context propagator.
    provider.register();
    tracing.enabled = true;
  },

  /** Sends what is buffered and stops the SDK once its last user closes. */
  async stop(): Promise<void> {
    if (users === 0) return;
    users -= 1;
    if (users > 0 || !provider) {
      await provider?.forceFlush();
      return;
    }
    const stopping = provider;
    provider = undefined;
    tracing.enabled = false;
    await stopping.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  },

  /** A server span for one HTTP request or WebSocket message, continuing the caller's `traceparent`. */
  startServer(name: string, headers: IncomingHttpHeaders, attributes: Attributes): HttpSpan {
    const parent = propagation.extract(ROOT_CONTEXT, headers);
    const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    const active = trace.setSpan(parent, span);
    return {
      run: (work) => context.with(active, work),
      end(route, status) {
        span.updateName(name.includes(' ') ? name : `${name} ${route}`);
        span.setAttribute('http.route', route);
        if (status !== undefined) span.setAttribute('http.response.status_code', status);
        ended(span, undefined, status !== undefined && status >= 500 ? String(status) : undefined);
      },
    };
  },

  /** The run's span, a child of the request (or message) that started it. */
  startRun(
    run: {
      runId: string;
      appId: string;
      botId: string;
      botVersion: number;
      chatId: string | undefined;
      transport: string;
    },
    kind: string,
  ): RunSpan {
    const operation = kind === 'workflow' ? 'invoke_workflow' : 'invoke_agent';
    const span = tracer().startSpan(`${operation} ${run.botId}`, {
      kind: SpanKind.INTERNAL,
      attributes: {
        'gen_ai.operation.name': operation,
        'gen_ai.agent.id': run.botId,
        'astron.app_id': run.appId,
        'astron.bot_id': run.botId,
        'astron.bot_version': run.botVersion,
        'astron.bot_kind': kind,
        'astron.run_id': run.runId,
        'astron.transport': run.transport,
        ...(run.chatId === undefined ? {} : { 'astron.chat_id': run.chatId, 'gen_ai.conversation.id': run.chatId }),
      },
    });
    const runContext = trace.setSpan(context.active(), span);
    return {
      bind<Part>(parts: AsyncIterable<Part>): AsyncIterable<Part> {
        const iterator = parts[Symbol.asyncIterator]();
        const bound: AsyncIterableIterator<Part> = {
          next: () => context.with(runContext, () => iterator.next()),
          return: async (value?: unknown) => (await iterator.return?.(value)) ?? { done: true, value: undefined },
          [Symbol.asyncIterator]() {
            return this;
          },
        };
        return bound;
      },
      traceAttempt(node, attempt, work) {
        const child = tracer().startSpan(
          `node ${node.id}`,
          {
            attributes: {
              'astron.node.id': node.id,
              'astron.node.type': node.type,
              'astron.node.attempt': attempt,
              'astron.run_id': run.runId,
            },
          },
          runContext,
        );
        return context.with(trace.setSpan(runContext, child), work).then(
          (value) => {
            child.end();
            return value;
          },
          (error: unknown) => {
            ended(child, error);
            throw error;
          },
        );
      },
      end(record) {
        span.setAttributes({
          'gen_ai.request.model': record.model,
          'gen_ai.usage.input_tokens': record.usage.promptTokens,
          'gen_ai.usage.output_tokens': record.usage.completionTokens,
          'astron.run.status': record.status,
          ...(record.provider === undefined ? {} : { 'gen_ai.provider.name': record.provider }),
          ...(record.finishReason === undefined ? {} : { 'gen_ai.response.finish_reasons': [record.finishReason] }),
        });
        if (tracing.captureContent) span.setAttribute('gen_ai.output.messages', record.answer.content);
        ended(span, undefined, record.error ? String(record.error.code) : undefined);
      },
    };
  },

  /** A client span per call to a model provider, child of the node attempt (or run) it belongs to. */
  startModelCall(providerName: string, model: string, request: ModelRequest): ModelCallSpan | undefined {
    const { parameters } = request;
    const span = tracer().startSpan(`chat ${model}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': providerName,
        'gen_ai.request.model': model,
        ...(parameters.temperature === undefined ? {} : { 'gen_ai.request.temperature': parameters.temperature }),
        ...(parameters.maxTokens === undefined ? {} : { 'gen_ai.request.max_tokens': parameters.maxTokens }),
        ...(parameters.topP === undefined ? {} : { 'gen_ai.request.top_p': parameters.topP }),
      },
    });
    if (tracing.captureContent) span.setAttribute('gen_ai.input.messages', JSON.stringify(request.messages));
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), headers);
    let text = '';
    return {
      headers,
      addText(piece) {
        if (tracing.captureContent) text += piece;
      },
      end({ usage, finishReason, errorType, error }) {
        span.setAttribute('gen_ai.response.model', model);
        if (usage) {
          span.setAttributes({
            'gen_ai.usage.input_tokens': usage.promptTokens,
            'gen_ai.usage.output_tokens': usage.completionTokens,
          });
        }
        if (finishReason) span.setAttribute('gen_ai.response.finish_reasons', [finishReason]);
        if (tracing.captureContent) span.setAttribute('gen_ai.output.messages', text);
        ended(span, error, errorType);
      },
    };
  },
};

/** Any outbound HTTP caller (workflow `http` nodes, agents' http tools), traced with `traceparent` sent on. */
export function traceHttpCalls<
  Caller extends {
    call(
      input: { url: string; method: string; headers?: Record<string, string> | undefined },
      signal: AbortSignal,
    ): Promise<{ status: number }>;
  },
>(caller: Caller): Caller {
  const call: Caller['call'] = async (input, signal) => {
    if (!tracing.enabled) return caller.call(input, signal);
    const url = new URL(input.url);
    const span = tracer().startSpan(`execute_tool ${url.host}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'http.request.method': input.method,
        'url.full': `${url.origin}${url.pathname}`,
        'server.address': url.hostname,
      },
    });
    const headers: Record<string, string> = { ...input.headers };
    propagation.inject(trace.setSpan(context.active(), span), headers);
    try {
      const result = await caller.call({ ...input, headers }, signal);
      span.setAttribute('http.response.status_code', result.status);
      ended(span, undefined, result.status >= 400 ? String(result.status) : undefined);
      return result;
    } catch (error) {
      ended(span, error);
      throw error;
    }
  };
  return Object.assign(Object.create(caller) as Caller, { call });
}
