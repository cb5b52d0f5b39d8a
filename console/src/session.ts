// The signed-in person's credentials live in sessionStorage only: never in a URL or a cookie, gone
// when the tab closes.

export type Session = { apiKey: string; adminToken: string; uid: string };

const KEY = 'astron-chat.session';

export function loadSession(): Session | undefined {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<Session> | null;
    if (!value || typeof value.apiKey !== 'string' || !value.apiKey) return undefined;
    return { apiKey: value.apiKey, adminToken: value.adminToken ?? '', uid: value.uid || 'console' };
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** The run this tab is showing while it streams, so a reload picks it up again. */
const LIVE_RUN = 'astron-chat.live-run';

export function rememberLiveRun(run: { runId: string; chatId: string; question: string } | undefined): void {
  if (run) sessionStorage.setItem(LIVE_RUN, JSON.stringify(run));
  else sessionStorage.removeItem(LIVE_RUN);
}

export function liveRun(): { runId: string; chatId: string; question: string } | undefined {
  try {
    const value = JSON.parse(sessionStorage.getItem(LIVE_RUN) ?? 'null') as {
      runId?: unknown;
      chatId?: unknown;
      question?: unknown;
    } | null;
    return value && typeof value.runId === 'string' && typeof value.chatId === 'string'
      ? { runId: value.runId, chatId: value.chatId, question: typeof value.question === 'string' ? value.question : '' }
      : undefined;
  } catch {
    return undefined;
  }
}
