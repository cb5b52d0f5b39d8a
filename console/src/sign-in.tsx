import { useEffect, useState } from 'react';
import { fetchDemoMode } from './api.ts';
import type { Session } from './session.ts';

const DEMO = { apiKey: 'sk-demo', adminToken: 'demo-admin-token' };

/** Asks for an app API key (chat) and, optionally, the admin token (operator view). */
export function SignIn(props: { onSignIn: (session: Session) => void }) {
  const [demo, setDemo] = useState(false);
  const [apiKey, setApiKey] = useState('');
  const [adminToken, setAdminToken] = useState('');
  const [uid, setUid] = useState('console');
  useEffect(() => {
    void fetchDemoMode().then((on) => {
      if (!on) return;
      setDemo(true);
      setApiKey((current) => current || DEMO.apiKey);
      setAdminToken((current) => current || DEMO.adminToken);
    });
  }, []);
  return (
    <form
      className="sign-in"
      onSubmit={(event) => {
        event.preventDefault();
        props.onSignIn({ apiKey: apiKey.trim(), adminToken: adminToken.trim(), uid: uid.trim() || 'console' });
      }}
    >
      <h1>astron-chat</h1>
      {demo && (
        <p className="demo-note" data-testid="demo-note">
          Demo mode: the fields hold the demo app's credentials (<code>sk-demo</code>, <code>demo-admin-token</code>).
          They work only on a server in demo mode.
        </p>
      )}
      <label>
        App API key
        <input
          data-testid="login-api-key"
          type="password"
          autoComplete="off"
          value={apiKey}
          onChange={(event) => setApiKey(event.target.value)}
          placeholder="sk-…"
          required
        />
        {demo && apiKey === DEMO.apiKey && <span className="muted small">demo key</span>}
      </label>
      <label>
        Admin token <span className="muted small">(optional: the operator view)</span>
        <input
          data-testid="login-admin-token"
          type="password"
          autoComplete="off"
          value={adminToken}
          onChange={(event) => setAdminToken(event.target.value)}
        />
        {demo && adminToken === DEMO.adminToken && <span className="muted small">demo admin token</span>}
      </label>
      <label>
        Your user id <span className="muted small">(whose conversations to list)</span>
        <input data-testid="login-uid" value={uid} onChange={(event) => setUid(event.target.value)} />
      </label>
      <button type="submit" data-testid="login-submit" disabled={!apiKey.trim()}>
        Sign in
      </button>
      <p className="muted small">Kept in this tab's sessionStorage only; closing the tab signs you out.</p>
    </form>
  );
}
