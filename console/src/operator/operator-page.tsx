import { useEffect, useState } from 'react';
import type { AdminClient } from '../api.ts';
import { AppsPanel } from './apps-panel.tsx';
import { BotsPanel } from './bots-panel.tsx';
import { ProvidersPanel } from './providers-panel.tsx';
import { RunsPanel } from './runs-panel.tsx';
import { UsagePanel } from './usage-panel.tsx';

const TABS = ['apps', 'bots', 'providers', 'usage', 'runs'] as const;
type Tab = (typeof TABS)[number];

export function OperatorPage(props: { admin: AdminClient; defaultAppId: string | undefined }) {
  const search = new URLSearchParams(window.location.search);
  const [tab, setTab] = useState<Tab>(() => TABS.find((name) => name === search.get('tab')) ?? 'apps');
  const [appId, setAppId] = useState(search.get('app') ?? props.defaultAppId ?? 'demo-app');
  const [runId, setRunId] = useState<string | undefined>(search.get('run') ?? undefined);
  useEffect(() => {
    if (props.defaultAppId && !new URLSearchParams(window.location.search).get('app')) setAppId(props.defaultAppId);
  }, [props.defaultAppId]);
  const choose = (next: { tab?: Tab; appId?: string; runId?: string | undefined }) => {
    const state = { tab: next.tab ?? tab, appId: next.appId ?? appId, runId: 'runId' in next ? next.runId : runId };
    setTab(state.tab);
    setAppId(state.appId);
    setRunId(state.runId);
    const query = new URLSearchParams({
      tab: state.tab,
      app: state.appId,
      ...(state.runId ? { run: state.runId } : {}),
    });
    window.history.replaceState(null, '', `/operator?${query.toString()}`);
  };
  return (
    <div className="operator">
      <nav className="tabs">
        {TABS.map((name) => (
          <button
            key={name}
            type="button"
            data-testid={`operator-tab-${name}`}
            className={name === tab ? 'tab selected' : 'tab'}
            onClick={() => choose({ tab: name })}
          >
            {name}
          </button>
        ))}
        {/* Providers are the server's, not an app's. */}
        {tab !== 'providers' && <span className="muted small">app: {appId}</span>}
      </nav>
      {tab === 'apps' && (
        <AppsPanel admin={props.admin} appId={appId} onSelect={(id) => choose({ appId: id, runId: undefined })} />
      )}
      {tab === 'bots' && <BotsPanel admin={props.admin} appId={appId} />}
      {tab === 'providers' && <ProvidersPanel admin={props.admin} />}
      {tab === 'usage' && <UsagePanel admin={props.admin} appId={appId} />}
      {tab === 'runs' && (
        <RunsPanel admin={props.admin} appId={appId} runId={runId} onSelect={(id) => choose({ runId: id })} />
      )}
    </div>
  );
}
