import { useState } from 'react';
import { errorMessage, type AdminClient } from '../api.ts';
import { useAsync } from './use-async.ts';

const time = (milliseconds: number | null) =>
  milliseconds === null ? '' : new Date(Number(milliseconds)).toLocaleString();

/** A key's or secret's last cell: Revoke while it is active, when it was revoked after. */
function RevokeCell(props: { revokedAt: number | null; onRevoke: () => void }) {
  return (
    <td>
      {props.revokedAt === null ? (
        <button type="button" onClick={props.onRevoke}>
          Revoke
        </button>
      ) : (
        <span className="muted">revoked {time(props.revokedAt)}</span>
      )}
    </td>
  );
}

/** Shown once: a key or secret is never readable again after this. */
function ShownOnce(props: { values: Array<[string, string]> | undefined; onDismiss: () => void }) {
  if (!props.values) return null;
  return (
    <div className="shown-once" data-testid="shown-once">
      <strong>Copy these now: they are shown only once.</strong>
      {props.values.map(([label, value]) => (
        <div key={label}>
          {label}: <code>{value}</code>
        </div>
      ))}
      <button type="button" onClick={props.onDismiss}>
        Done
      </button>
    </div>
  );
}

export function AppsPanel(props: { admin: AdminClient; appId: string; onSelect: (appId: string) => void }) {
  const { admin, appId } = props;
  const apps = useAsync(() => admin.admin.apps.list.query(), [admin]);
  const [newAppId, setNewAppId] = useState('');
  const [shown, setShown] = useState<Array<[string, string]> | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const act = (action: () => Promise<unknown>) =>
    action().then(
      () => {
        setProblem(undefined);
        apps.reload();
      },
      (error: unknown) => setProblem(errorMessage(error)),
    );

  return (
    <div className="panel" data-testid="admin-apps">
      <h2>Apps</h2>
      <table>
        <thead>
          <tr>
            <th>id</th>
            <th>name</th>
            <th>status</th>
            <th>created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(apps.value ?? []).map((app) => (
            <tr key={app.id} className={app.id === appId ? 'selected' : ''} data-app-id={app.id}>
              <td>
                <button type="button" className="link" onClick={() => props.onSelect(app.id)}>
                  {app.id}
                </button>
              </td>
              <td>{app.name}</td>
              <td>
                <span className={`badge status-${app.status}`}>{app.status}</span>
              </td>
              <td className="muted small">{time(app.created_at)}</td>
              <td>
                {app.status === 'active' ? (
                  <button
                    type="button"
                    onClick={() => void act(() => admin.admin.apps.disable.mutate({ appId: app.id }))}
                  >
                    Disable
                  </button>
                ) : (
                  <button
                    type="button"
                    onClick={() => void act(() => admin.admin.apps.enable.mutate({ appId: app.id }))}
                  >
                    Enable
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void act(async () => {
            const created = await admin.admin.apps.create.mutate({ id: newAppId.trim() });
            setShown([
              ['app', created.id],
              ['API key', created.apiKey],
              ['signing secret', created.secret],
            ]);
            setNewAppId('');
          });
        }}
      >
        <input placeholder="new app id" value={newAppId} onChange={(event) => setNewAppId(event.target.value)} />
        <button type="submit" disabled={!newAppId.trim()}>
          Create app
        </button>
      </form>
      <ShownOnce values={shown} onDismiss={() => setShown(undefined)} />
      {(problem ?? apps.error) && <div className="error-text">{problem ?? apps.error}</div>}
      <CredentialsPanel admin={admin} appId={appId} onShown={setShown} />
    </div>
  );
}

function CredentialsPanel(props: {
  admin: AdminClient;
  appId: string;
  onShown: (values: Array<[string, string]>) => void;
}) {
  const { admin, appId } = props;
  const keys = useAsync(() => admin.admin.keys.list.query({ appId }), [admin, appId]);
  const secrets = useAsync(() => admin.admin.secrets.list.query({ appId }), [admin, appId]);
  const [keyName, setKeyName] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const act = (action: () => Promise<unknown>) =>
    action().then(
      () => {
        setProblem(undefined);
        keys.reload();
        secrets.reload();
      },
      (error: unknown) => setProblem(errorMessage(error)),
    );

  return (
    <div className="credentials">
      <h3>Keys of {appId}</h3>
      <table data-testid="admin-keys">
        <tbody>
          {(keys.value ?? []).map((key) => (
            <tr key={key.id}>
              <td>{key.name}</td>
              <td>
                <code>{key.key_prefix}…</code>
              </td>
              <td className="muted small">{time(key.created_at)}</td>
              <RevokeCell
                revokedAt={key.revoked_at}
                onRevoke={() => void act(() => admin.admin.keys.revoke.mutate({ appId, keyId: key.id }))}
              />
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void act(async () => {
            const created = await admin.admin.keys.create.mutate({ appId, name: keyName.trim() });
            props.onShown([
              ['key name', keyName.trim()],
              ['API key', created.key],
            ]);
            setKeyName('');
          });
        }}
      >
        <input placeholder="key name" value={keyName} onChange={(event) => setKeyName(event.target.value)} />
        <button type="submit" disabled={!keyName.trim()}>
          Create key
        </button>
      </form>
      <h3>Signing secrets of {appId}</h3>
      <table data-testid="admin-secrets">
        <tbody>
          {(secrets.value ?? []).map((secret) => (
            <tr key={secret.id}>
              <td>
                <code>{secret.id}</code>
              </td>
              <td className="muted small">{time(secret.created_at)}</td>
              <RevokeCell
                revokedAt={secret.revoked_at}
                onRevoke={() => void act(() => admin.admin.secrets.revoke.mutate({ appId, secretId: secret.id }))}
              />
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        onClick={() =>
          void act(async () => {
            const created = await admin.admin.secrets.create.mutate({ appId });
            props.onShown([['signing secret', created.secret]]);
          })
        }
      >
        Create secret
      </button>
      {(problem ?? keys.error ?? secrets.error) && (
        <div className="error-text">{problem ?? keys.error ?? secrets.error}</div>
      )}
    </div>
  );
}
