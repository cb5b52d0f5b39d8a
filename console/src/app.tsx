import { useEffect, useMemo, useState } from 'react';
import { createClients, errorMessage } from './api.ts';
import { ChatPage, FollowPage } from './chat/chat-page.tsx';
import { OperatorPage } from './operator/operator-page.tsx';
import { clearSession, loadSession, saveSession, type Session } from './session.ts';
import { SignIn } from './sign-in.tsx';

type Route = { page: 'chat' } | { page: 'follow'; runId: string } | { page: 'operator' };

function currentRoute(): Route {
  const path = window.location.pathname;
  const follow = /^\/follow\/([^/]+)$/.exec(path);
  if (follow?.[1]) return { page: 'follow', runId: decodeURIComponent(follow[1]) };
  if (path === '/operator') return { page: 'operator' };
  return { page: 'chat' };
}

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [route, setRoute] = useState<Route>(currentRoute);
  const [appId, setAppId] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const clients = useMemo(() => (session ? createClients(session) : undefined), [session]);

  useEffect(() => {
    const onPop = () => setRoute(currentRoute());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  useEffect(() => {
    if (!clients) return;
    clients.chat.trpc.chat.bots
      .query()
      .then((result) => {
        setAppId(result.appId);
        setProblem(undefined);
      })
      .catch((error: unknown) => setProblem(errorMessage(error)));
    return () => clients.chat.close();
  }, [clients]);

  const go = (next: Route, path: string) => {
    window.history.pushState(null, '', path);
    setRoute(next);
  };

  if (!session || !clients) {
    return (
      <SignIn
        onSignIn={(next) => {
          saveSession(next);
          setSession(next);
        }}
      />
    );
  }

  return (
    <div className="shell">
      <header className="topbar">
        <strong>astron-chat</strong>
        <nav>
          <a
            href="/"
            className={route.page === 'chat' ? 'selected' : ''}
            onClick={(event) => {
              event.preventDefault();
              go({ page: 'chat' }, '/');
            }}
          >
            Chat
          </a>
          {clients.admin && (
            <a
              href="/operator"
              data-testid="nav-operator"
              className={route.page === 'operator' ? 'selected' : ''}
              onClick={(event) => {
                event.preventDefault();
                go({ page: 'operator' }, '/operator');
              }}
            >
              Operate
            </a>
          )}
        </nav>
        <span className="muted small" data-testid="signed-in-app">
          {appId ? `app ${appId} · user ${session.uid}` : ''}
        </span>
        <button
          type="button"
          className="link"
          onClick={() => {
            clearSession();
            setSession(undefined);
          }}
        >
          Sign out
        </button>
      </header>
      {problem && <div className="error-text banner">{problem}</div>}
      <main>
        {route.page === 'chat' && <ChatPage client={clients.chat} uid={session.uid} />}
        {route.page === 'follow' && <FollowPage client={clients.chat} runId={route.runId} />}
        {route.page === 'operator' &&
          (clients.admin ? (
            <OperatorPage admin={clients.admin} defaultAppId={appId} />
          ) : (
            <div className="panel">Sign in with the admin token to operate.</div>
          ))}
      </main>
    </div>
  );
}
