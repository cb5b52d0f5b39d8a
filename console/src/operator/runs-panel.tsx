import { useState } from 'react';
import type { AdminClient } from '../api.ts';
import { useAsync } from './use-async.ts';

export function RunsPanel(props: {
  admin: AdminClient;
  appId: string;
  runId: string | undefined;
  onSelect: (runId: string) => void;
}) {
  const { admin, appId } = props;
  const [before, setBefore] = useState<string | undefined>(undefined);
  const runs = useAsync(
    () => admin.admin.runs.list.query({ appId, limit: 25, ...(before ? { before } : {}) }),
    [admin, appId, before],
  );
  return (
    <div className="panel">
      <h2>
        Runs of {appId}{' '}
        <button type="button" onClick={runs.reload}>
          Refresh
        </button>
      </h2>
      <table data-testid="runs-list">
        <thead>
          <tr>
            <th>run</th>
            <th>bot</th>
            <th>status</th>
            <th>tokens</th>
            <th>first token</th>
            <th>duration</th>
            <th>started</th>
          </tr>
        </thead>
        <tbody>
          {(runs.value?.runs ?? []).map((run) => (
            <tr key={run.runId} className={run.runId === props.runId ? 'selected' : ''} data-run-id={run.runId}>
              <td>
                <button type="button" className="link" onClick={() => props.onSelect(run.runId)}>
                  {run.runId}
                </button>
              </td>
              <td>
                {run.botId} <span className="muted small">v{run.botVersion}</span>
              </td>
              <td>
                <span className={`badge status-${run.status}`}>{run.status}</span>
              </td>
              <td>{run.totalTokens}</td>
              <td>{run.timeToFirstTokenMs === null ? '' : `${run.timeToFirstTokenMs} ms`}</td>
              <td>{run.durationMs === null ? '' : `${run.durationMs} ms`}</td>
              <td className="muted small">{new Date(run.created * 1000).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="inline-form">
        {before && (
          <button type="button" onClick={() => setBefore(undefined)}>
            Newest
          </button>
        )}
        {runs.value?.nextBefore && (
          <button type="button" onClick={() => setBefore(runs.value?.nextBefore)}>
            Older
          </button>
        )}
      </div>
      {runs.error && <div className="error-text">{runs.error}</div>}
      {props.runId && <RunInspector admin={admin} appId={appId} runId={props.runId} />}
    </div>
  );
}

export function RunInspector(props: { admin: AdminClient; appId: string; runId: string }) {
  const run = useAsync(
    () => props.admin.admin.runs.get.query({ appId: props.appId, runId: props.runId }),
    [props.admin, props.appId, props.runId],
  );
  if (run.error) return <div className="error-text">{run.error}</div>;
  const value = run.value;
  if (!value) return <div className="muted">Loading {props.runId}…</div>;
  const start = Math.min(...value.nodes.map((node) => node.startedAt), Number.POSITIVE_INFINITY);
  const end = Math.max(...value.nodes.map((node) => node.finishedAt ?? node.startedAt), start + 1);
  const span = end - start;
  return (
    <div className="run-inspector" data-testid="run-inspector" data-status={value.status}>
      <h3>Run {value.runId}</h3>
      <dl className="facts">
        <dt>status</dt>
        <dd>
          <span className={`badge status-${value.status}`}>{value.status}</span>
          {value.finishReason && <span className="muted"> ({value.finishReason})</span>}
        </dd>
        <dt>bot</dt>
        <dd>
          {value.botId} v{value.botVersion}
        </dd>
        <dt>chat</dt>
        <dd>{value.chatId ?? '—'}</dd>
        <dt>started</dt>
        <dd>{new Date(value.created * 1000).toLocaleString()}</dd>
        <dt>duration</dt>
        <dd>{value.durationMs === null ? '—' : `${value.durationMs} ms`}</dd>
        <dt>usage</dt>
        <dd>
          {value.usage.promptTokens} prompt · {value.usage.completionTokens} completion · {value.usage.totalTokens}{' '}
          total
        </dd>
        {value.error && (
          <>
            <dt>error</dt>
            <dd className="error-text">
              {value.error.code}: {value.error.message}
            </dd>
          </>
        )}
      </dl>
      {value.nodes.length > 0 && (
        <div className="node-runs">
          <h4>Node runs ({span} ms)</h4>
          {value.nodes.map((node, index) => {
            const offset = ((node.startedAt - start) / span) * 100;
            const width = Math.min(
              100,
              Math.max(0.8, (((node.finishedAt ?? node.startedAt) - node.startedAt) / span) * 100),
            );
            return (
              <div key={`${node.nodeId}-${index}`} className="node-run-row">
                <span className="node-run-label">
                  {node.nodeId} <span className="muted small">{node.nodeType}</span>
                </span>
                <span className="node-run-track">
                  <span
                    className={`node-run-bar status-${node.status}`}
                    data-testid="node-run-bar"
                    data-node={node.nodeId}
                    data-status={node.status}
                    style={{ left: `${Math.min(offset, 100 - width)}%`, width: `${width}%` }}
                    title={`${node.nodeId}: ${node.status}, started +${node.startedAt - start} ms, ${node.durationMs ?? 0} ms, ${node.attempts} attempt(s)`}
                  />
                </span>
                <span className="muted small node-run-facts">
                  +{node.startedAt - start} ms · {node.durationMs ?? 0} ms · {node.attempts}×
                  {node.error ? ` · ${node.error.message}` : ''}
                </span>
              </div>
            );
          })}
        </div>
      )}
    </div>
  );
}
