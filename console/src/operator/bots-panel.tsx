import { checkBotDefinition } from '@astron-chat/shared';
import { useEffect, useMemo, useState } from 'react';
import { errorMessage, type AdminClient } from '../api.ts';
import { useAsync } from './use-async.ts';

const NEW_BOT = JSON.stringify({ kind: 'chat', model: { provider: 'demo' }, systemPrompt: 'You help.' }, null, 2);

/** Where a definition is wrong, before it is sent: JSON syntax first, then the same check the server runs. */
export function definitionProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `JSON: ${errorMessage(error)}`;
  }
  const check = checkBotDefinition(value);
  return check.success ? undefined : `definition${check.path ? `.${check.path}` : ''}: ${check.message}`;
}

export function BotsPanel(props: { admin: AdminClient; appId: string }) {
  const { admin, appId } = props;
  const bots = useAsync(() => admin.admin.bots.list.query({ appId }), [admin, appId]);
  const [botId, setBotId] = useState<string | undefined>(undefined);
  const [creating, setCreating] = useState(false);
  const [newBotId, setNewBotId] = useState('');
  const [text, setText] = useState('');
  const [saved, setSaved] = useState<string | undefined>(undefined);
  const [serverProblem, setServerProblem] = useState<string | undefined>(undefined);
  const versions = useAsync(
    () => (botId ? admin.admin.bots.versions.query({ appId, botId }) : Promise.resolve([])),
    [admin, appId, botId, saved],
  );

  useEffect(() => {
    setBotId(undefined);
    setCreating(false);
  }, [appId]);

  useEffect(() => {
    if (!botId) return;
    setServerProblem(undefined);
    admin.admin.bots.get
      .query({ appId, botId })
      .then((bot) => setText(JSON.stringify(bot.definition, null, 2)))
      .catch((error: unknown) => setServerProblem(errorMessage(error)));
  }, [admin, appId, botId]);

  const problem = useMemo(() => (botId || creating ? definitionProblem(text) : undefined), [text, botId, creating]);

  const save = async () => {
    setServerProblem(undefined);
    try {
      const definition = JSON.parse(text) as unknown;
      const id = creating ? newBotId.trim() : (botId ?? '');
      const result = creating
        ? await admin.admin.bots.create.mutate({ appId, botId: id, definition })
        : await admin.admin.bots.update.mutate({ appId, botId: id, definition });
      setSaved(`Saved ${id} as version ${result.version}.`);
      setCreating(false);
      setBotId(id);
      bots.reload();
    } catch (error) {
      setServerProblem(errorMessage(error));
    }
  };

  return (
    <div className="panel" data-testid="admin-bots">
      <h2>Bots of {appId}</h2>
      <div className="bots-layout">
        <ul className="bot-list">
          {(bots.value ?? []).map((bot) => (
            <li key={bot.id}>
              <button
                type="button"
                className={bot.id === botId ? 'conversation selected' : 'conversation'}
                data-bot-id={bot.id}
                onClick={() => {
                  setCreating(false);
                  setSaved(undefined);
                  setBotId(bot.id);
                }}
              >
                {bot.id} <span className="muted small">v{bot.current_version}</span>
              </button>
            </li>
          ))}
          <li>
            <button
              type="button"
              onClick={() => {
                setBotId(undefined);
                setCreating(true);
                setText(NEW_BOT);
                setSaved(undefined);
              }}
            >
              + New bot
            </button>
          </li>
        </ul>
        {(botId || creating) && (
          <div className="bot-editor-pane">
            {creating && (
              <input placeholder="bot id" value={newBotId} onChange={(event) => setNewBotId(event.target.value)} />
            )}
            <textarea
              data-testid="bot-editor"
              className="code"
              spellCheck={false}
              value={text}
              onChange={(event) => {
                setText(event.target.value);
                setSaved(undefined);
              }}
              rows={22}
            />
            {(problem ?? serverProblem) && (
              <div className="error-text" data-testid="bot-editor-error">
                {problem ?? serverProblem}
              </div>
            )}
            {saved && <div className="ok-text">{saved}</div>}
            <button
              type="button"
              data-testid="bot-save"
              disabled={problem !== undefined || (creating && !newBotId.trim())}
              onClick={() => void save()}
            >
              Save
            </button>
            {botId && (
              <div className="versions">
                <h3>Versions</h3>
                <ul data-testid="bot-versions">
                  {(versions.value ?? []).map((version) => (
                    <li key={version.version}>
                      v{version.version}{' '}
                      <span className="muted small">{new Date(Number(version.created_at)).toLocaleString()}</span>
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </div>
        )}
      </div>
      {bots.error && <div className="error-text">{bots.error}</div>}
    </div>
  );
}
