import type { ChatCompletionState, StepView, ToolCallView } from '@astron-chat/client/react';
import { memo, useMemo } from 'react';
import { markdownBlocks, renderMarkdown } from '../markdown.ts';

const MarkdownBlock = memo(function MarkdownBlock(props: { text: string }) {
  const html = useMemo(() => renderMarkdown(props.text), [props.text]);
  // markdown-it runs with html:false and its link check: the string holds no live markup of the answer's.
  return <div className="markdown-block" dangerouslySetInnerHTML={{ __html: html }} />;
});

/** An answer as Markdown, block by block: while it streams only the last block changes. */
export const Markdown = memo(function Markdown(props: { text: string }) {
  const blocks = useMemo(() => markdownBlocks(props.text), [props.text]);
  return (
    <div className="markdown">
      {blocks.map((block, index) => (
        <MarkdownBlock key={index} text={block} />
      ))}
    </div>
  );
});

export function Reasoning(props: { text: string }) {
  if (!props.text) return null;
  return (
    <details className="reasoning" data-testid="reasoning">
      <summary>Reasoning</summary>
      <div className="reasoning-text">{props.text}</div>
    </details>
  );
}

export function ToolCallCard(props: { call: ToolCallView }) {
  const { call } = props;
  return (
    <div className="tool-call" data-testid="tool-call">
      <div className="tool-call-head">
        <span className="badge">{call.kind}</span> <strong>{call.name}</strong>
        <span className="muted">{call.durationMs === undefined ? '' : ` · ${call.durationMs} ms`}</span>
      </div>
      <div className="tool-call-body">
        <div>
          <span className="muted">arguments</span> <code>{call.arguments}</code>
        </div>
        {call.result !== undefined && (
          <div>
            <span className="muted">result</span> <code>{call.result}</code>
          </div>
        )}
      </div>
    </div>
  );
}

export function StepTimeline(props: { steps: StepView[] }) {
  if (props.steps.length === 0) return null;
  return (
    <ol className="steps">
      {props.steps.map((step) => (
        <li
          key={step.nodeId}
          className={`step step-${step.status}`}
          data-testid="workflow-step"
          data-status={step.status}
        >
          <span className="step-dot" />
          <span className="step-node">{step.nodeId}</span>
          <span className="muted"> {step.nodeType}</span>
          <span className="step-status">{step.status}</span>
          {step.attempt > 1 && <span className="muted"> attempt {step.attempt}</span>}
          {step.durationMs !== undefined && <span className="muted"> {step.durationMs} ms</span>}
          {step.error && <span className="error-text"> {step.error}</span>}
        </li>
      ))}
    </ol>
  );
}

/** One assistant turn, live or from history; memoized so that a frame of a live answer re-renders only that answer. */
export const AssistantMessage = memo(function AssistantMessage(props: {
  text: string;
  reasoning: string;
  toolCalls: ToolCallView[];
  steps?: StepView[] | undefined;
  status: ChatCompletionState['status'] | 'complete' | 'partial';
  runId: string | undefined;
  usage?: ChatCompletionState['usage'] | undefined;
  timeToFirstTokenMs?: number | undefined;
  error?: ChatCompletionState['error'] | undefined;
  reconnecting?: boolean;
}) {
  const streaming = props.status === 'streaming' || props.status === 'reconnecting';
  const stopped = props.status === 'cancelled' || props.status === 'partial';
  return (
    <div className="message assistant" data-testid="message-assistant" data-status={props.status}>
      {props.steps && <StepTimeline steps={props.steps} />}
      <Reasoning text={props.reasoning} />
      {props.toolCalls.map((call) => (
        <ToolCallCard key={call.id} call={call} />
      ))}
      <Markdown text={props.text} />
      {streaming && !props.text && <div className="muted">…</div>}
      {props.reconnecting && (
        <div className="reconnecting" data-testid="reconnecting">
          Connection lost, reconnecting…
        </div>
      )}
      {stopped && <div className="stopped-mark">⏹ Stopped: the answer ends here.</div>}
      {props.error && (
        <div className="error-text">
          Error {props.error.code}: {props.error.message}
        </div>
      )}
      <div className="message-meta">
        {props.usage && (
          <span>
            {props.usage.promptTokens} prompt · {props.usage.completionTokens} completion · {props.usage.totalTokens}{' '}
            tokens
          </span>
        )}
        {props.timeToFirstTokenMs !== undefined && <span> · first token {props.timeToFirstTokenMs} ms</span>}
        {props.runId && (
          <a
            className="follow-link"
            data-testid="run-follow-link"
            href={`/follow/${encodeURIComponent(props.runId)}`}
            target="_blank"
            rel="opener"
            title="Open this run on another tab or device: it replays and follows live"
          >
            follow link
          </a>
        )}
      </div>
    </div>
  );
});
