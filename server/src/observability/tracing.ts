import type { FinishReason, Usage } from '@astron-chat/shared';
import type { ModelRequest } from '../providers/chat-model.ts';

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

/**
 * Tracing for the whole process (OpenTelemetry's provider is global too). Off unless
 * OTEL_EXPORTER_OTLP_ENDPOINT is set: then every hook is one boolean check and returns nothing.
 */
export const tracing = {
  enabled: false,
  startModelCall(_provider: string, _model: string, _request: ModelRequest): ModelCallSpan | undefined {
    return undefined;
  },
};
export type Tracing = typeof tracing;
