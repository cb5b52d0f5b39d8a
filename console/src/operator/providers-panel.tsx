import { useState } from 'react';
import { errorMessage, type AdminClient } from '../api.ts';
import { useAsync } from './use-async.ts';

type ProviderView = Awaited<ReturnType<AdminClient['admin']['providers']['list']['query']>>[number];

/** The form's fields, named as the `admin.providers` procedures name them (a server error's `param` says which). */
const FIELDS = [
  'id',
  'baseUrl',
  'apiKey',
  'headers',
  'defaultModel',
  'timeoutMs',
  'connectTimeoutMs',
  'maxConcurrency',
  'allowedApps',
] as const;
type Field = (typeof FIELDS)[number];
type Form = Record<Field, string> & { removeKey: boolean };
type Problem = { field: Field | undefined; message: string };

const EMPTY: Form = {
  id: '',
  baseUrl: '',
  apiKey: '',
  headers: '',
  defaultModel: '',
  timeoutMs: '',
  connectTimeoutMs: '',
  maxConcurrency: '',
  allowedApps: '',
  removeKey: false,
};

/** A field error thrown before anything is sent (the same shape as the server's). */
class FieldError extends Error {
  constructor(
    readonly field: Field,
    message: string,
  ) {
    super(message);
  }
}

/** The form a stored provider opens with; its key and header values are never readable, so those start empty. */
function toForm(provider: ProviderView): Form {
  const text = (value: number | string | null) => (value === null ? '' : String(value));
  return {
    ...EMPTY,
    id: provider.id,
    baseUrl: provider.baseUrl ?? '',
    defaultModel: text(provider.defaultModel),
    timeoutMs: text(provider.timeoutMs),
    connectTimeoutMs: text(provider.connectTimeoutMs),
    maxConcurrency: text(provider.maxConcurrency),
    allowedApps: (provider.allowedApps ?? []).join(', '),
  };
}

/** `name: value` lines; `name:` with nothing after it removes that header on an update. */
function parseHeaders(text: string): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new FieldError('headers', `headers: line ${index + 1} is not "name: value".`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return Object.keys(headers).length > 0 ? headers : undefined;
}

/** An empty number field clears the setting (the provider's default applies). */
function toNumber(form: Form, field: 'timeoutMs' | 'connectTimeoutMs' | 'maxConcurrency'): number | null {
  const text = form[field].trim();
  if (!text) return null;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new FieldError(field, `${field}: must be a number.`);
  return value;
}

/** What the procedures take from the form: on an update, an empty key keeps the stored one. */
function toInput(form: Form, creating: boolean) {
  const apps = form.allowedApps
    .split(',')
    .map((app) => app.trim())
    .filter(Boolean);
  const headers = parseHeaders(form.headers);
  const apiKey = form.removeKey ? null : form.apiKey || undefined;
  // An empty field: left out of a new provider, cleared on an existing one.
  const empty = creating ? undefined : null;
  return {
    id: form.id.trim(),
    baseUrl: form.baseUrl.trim(),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(headers ? { headers } : {}),
    defaultModel: form.defaultModel.trim() || empty,
    timeoutMs: toNumber(form, 'timeoutMs') ?? empty,
    connectTimeoutMs: toNumber(form, 'connectTimeoutMs') ?? empty,
    maxConcurrency: toNumber(form, 'maxConcurrency') ?? empty,
    allowedApps: apps.length > 0 ? apps : empty,
  };
}

/** Which field a refusal is about: its `param` (`headers.x-org` → headers), else none. */
function toProblem(error: unknown): Problem {
  if (error instanceof FieldError) return { field: error.field, message: error.message };
  const param = (error as { data?: { param?: unknown } }).data?.param;
  const head = typeof param === 'string' ? param.split('.')[0] : undefined;
  return { field: FIELDS.find((field) => field === head), message: errorMessage(error) };
}

function keyShown(provider: ProviderView): string {
  if (provider.apiKeyLast4 === null) return 'none';
  // A key under 12 characters is not shown even in part.
  return provider.apiKeyLast4 ? `…${provider.apiKeyLast4}` : 'set';
}

const orDefault = (value: number | null, unit = '') => (value === null ? 'default' : `${value}${unit}`);

/** The server's model providers (operator-owned, for every app or those listed). */
export function ProvidersPanel(props: { admin: AdminClient }) {
  const { admin } = props;
  const providers = useAsync(() => admin.admin.providers.list.query(), [admin]);
  /** `undefined`: no form; `''`: a new provider; else the id being edited. */
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [form, setForm] = useState<Form>(EMPTY);
  const [problem, setProblem] = useState<Problem | undefined>(undefined);
  const [saved, setSaved] = useState<string | undefined>(undefined);
  const [deleting, setDeleting] = useState<string | undefined>(undefined);
  const [deleteProblem, setDeleteProblem] = useState<string | undefined>(undefined);
  const creating = editing === '';
  const editedView = (providers.value ?? []).find((provider) => provider.id === editing);

  const open = (next: string | undefined, values: Form) => {
    setEditing(next);
    setForm(values);
    setProblem(undefined);
    setSaved(undefined);
  };

  const save = async () => {
    setProblem(undefined);
    try {
      const input = toInput(form, creating);
      const result = creating
        ? await admin.admin.providers.create.mutate({ ...input, baseUrl: input.baseUrl })
        : await admin.admin.providers.update.mutate(input);
      setSaved(`Saved ${result.id}.`);
      setEditing(undefined);
      setForm(EMPTY);
      providers.reload();
    } catch (error) {
      setProblem(toProblem(error));
    }
  };

  const remove = async (id: string) => {
    try {
      await admin.admin.providers.delete.mutate({ id });
      setDeleteProblem(undefined);
      setDeleting(undefined);
      setSaved(`Deleted ${id}.`);
      if (editing === id) open(undefined, EMPTY);
      providers.reload();
    } catch (error) {
      setDeleteProblem(errorMessage(error));
    }
  };

  /** An edit clears the refusal of the field it fixes. */
  const change = (field: Field, value: string) => {
    setForm({ ...form, [field]: value });
    if (problem?.field === field) setProblem(undefined);
  };

  const input = (field: Exclude<Field, 'headers'>, label: string, options: { type?: string; hint?: string } = {}) => (
    <label className={problem?.field === field ? 'field invalid' : 'field'}>
      <span>{label}</span>
      <input
        data-testid={`provider-field-${field}`}
        type={options.type ?? 'text'}
        autoComplete="off"
        disabled={field === 'id' && !creating}
        placeholder={options.hint}
        value={form[field]}
        onChange={(event) => change(field, event.target.value)}
      />
      {problem?.field === field && (
        <span className="error-text small" data-testid={`provider-error-${field}`}>
          {problem.message}
        </span>
      )}
    </label>
  );

  return (
    <div className="panel" data-testid="admin-providers">
      <h2>
        Model providers{' '}
        <button type="button" data-testid="provider-new" onClick={() => open('', EMPTY)}>
          + New provider
        </button>
      </h2>
      <p className="muted small">
        Every app&apos;s bots name these as their model and fallbacks. Keys and header values are stored encrypted and
        never shown again: a read shows a key&apos;s last 4 characters and the headers&apos; names.
      </p>
      <table data-testid="providers-list">
        <thead>
          <tr>
            <th>id</th>
            <th>type</th>
            <th>base URL</th>
            <th>key</th>
            <th>headers</th>
            <th>timeouts</th>
            <th>max concurrency</th>
            <th>apps</th>
            <th>default model</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(providers.value ?? []).map((provider) => (
            <tr key={provider.id} data-provider-id={provider.id} className={provider.id === editing ? 'selected' : ''}>
              <td className="nowrap">
                <code>{provider.id}</code>
              </td>
              <td className="small nowrap">
                {provider.type}
                {provider.source === 'environment' && <span className="badge source-environment">built-in</span>}
              </td>
              <td className="small wrap">{provider.baseUrl ?? <span className="muted">built in</span>}</td>
              <td className="nowrap" data-testid="provider-key">
                <code>{keyShown(provider)}</code>
              </td>
              <td className="small" data-testid="provider-headers">
                {provider.headerNames.length > 0 ? (
                  provider.headerNames.join(', ')
                ) : (
                  <span className="muted">none</span>
                )}
              </td>
              <td className="small nowrap">
                request {orDefault(provider.timeoutMs, ' ms')}
                <br />
                connect {orDefault(provider.connectTimeoutMs, ' ms')}
              </td>
              <td className="small">{orDefault(provider.maxConcurrency)}</td>
              <td className="small">{provider.allowedApps ? provider.allowedApps.join(', ') : 'all'}</td>
              <td className="small">{provider.defaultModel ?? <span className="muted">none</span>}</td>
              <td className="actions">
                {provider.source === 'store' &&
                  (deleting === provider.id ? (
                    <>
                      <button
                        type="button"
                        className="danger"
                        data-testid="provider-delete-confirm"
                        onClick={() => void remove(provider.id)}
                      >
                        Delete {provider.id}
                      </button>
                      <button
                        type="button"
                        onClick={() => {
                          setDeleting(undefined);
                          setDeleteProblem(undefined);
                        }}
                      >
                        Keep
                      </button>
                    </>
                  ) : (
                    <>
                      <button
                        type="button"
                        data-testid="provider-edit"
                        onClick={() => open(provider.id, toForm(provider))}
                      >
                        Edit
                      </button>
                      <button
                        type="button"
                        data-testid="provider-delete"
                        onClick={() => {
                          setDeleting(provider.id);
                          setDeleteProblem(undefined);
                        }}
                      >
                        Delete
                      </button>
                    </>
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {deleteProblem && (
        <div className="error-text" data-testid="provider-delete-error">
          {deleteProblem}
        </div>
      )}
      {saved && (
        <div className="ok-text" data-testid="provider-saved">
          {saved}
        </div>
      )}
      {providers.error && <div className="error-text">{providers.error}</div>}
      {editing !== undefined && (
        <form
          className="provider-form"
          data-testid="provider-form"
          onSubmit={(event) => {
            event.preventDefault();
            void save();
          }}
        >
          <h3>{creating ? 'New provider' : `Edit ${editing}`}</h3>
          <div className="field-grid">
            {input('id', 'id', { hint: 'e.g. deepseek' })}
            {input('baseUrl', 'base URL', { hint: 'https://api.example.com/v1' })}
            {input('apiKey', 'API key', {
              type: 'password',
              hint: creating
                ? 'optional'
                : editedView?.apiKeyLast4
                  ? `leave empty to keep …${editedView.apiKeyLast4}`
                  : 'leave empty to keep it as it is',
            })}
            {input('defaultModel', 'default model', { hint: 'used when a bot names none' })}
            {input('timeoutMs', 'request timeout (ms)', { type: 'number', hint: 'default' })}
            {input('connectTimeoutMs', 'connect timeout (ms)', { type: 'number', hint: 'default' })}
            {input('maxConcurrency', 'max concurrency', { type: 'number', hint: 'no cap' })}
            {input('allowedApps', 'allowed apps', { hint: 'comma-separated; empty: every app' })}
            <label className={problem?.field === 'headers' ? 'field wide invalid' : 'field wide'}>
              <span>
                extra headers{' '}
                {!creating && editedView && editedView.headerNames.length > 0 && (
                  <span className="muted small">
                    (stored: {editedView.headerNames.join(', ')}; a line sets one, &quot;name:&quot; alone removes it)
                  </span>
                )}
              </span>
              <textarea
                data-testid="provider-field-headers"
                className="code"
                rows={2}
                spellCheck={false}
                placeholder="name: value, one a line"
                value={form.headers}
                onChange={(event) => change('headers', event.target.value)}
              />
              {problem?.field === 'headers' && (
                <span className="error-text small" data-testid="provider-error-headers">
                  {problem.message}
                </span>
              )}
            </label>
          </div>
          {!creating && editedView?.apiKeyLast4 !== null && (
            <label className="toggle">
              <input
                type="checkbox"
                data-testid="provider-remove-key"
                checked={form.removeKey}
                onChange={(event) => setForm({ ...form, removeKey: event.target.checked })}
              />
              remove the stored key
            </label>
          )}
          {problem && problem.field === undefined && (
            <div className="error-text" data-testid="provider-form-error">
              {problem.message}
            </div>
          )}
          <div className="inline-form">
            <button type="submit" data-testid="provider-save">
              {creating ? 'Create provider' : 'Save'}
            </button>
            <button type="button" onClick={() => open(undefined, EMPTY)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
