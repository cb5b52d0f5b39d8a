import { createAdminClient, createChatClient, type ChatClient } from '@astron-chat/client';

export type AdminClient = ReturnType<typeof createAdminClient>;

/** The page's clients: the typed chat client over WebSocket (the key travels in the first message, not the URL). */
export function createClients(session: { apiKey: string; adminToken: string }): {
  chat: ChatClient;
  admin: AdminClient | undefined;
} {
  const url = window.location.origin;
  return {
    chat: createChatClient({ url, transport: 'ws', apiKey: session.apiKey }),
    admin: session.adminToken ? createAdminClient({ url, adminToken: session.adminToken }) : undefined,
  };
}

/** The server's health report says whether it runs in demo mode (the sign-in form is then prefilled). */
export async function fetchDemoMode(): Promise<boolean> {
  try {
    const response = await fetch('/health');
    const body = (await response.json()) as { demoMode?: unknown };
    return body.demoMode === true;
  } catch {
    return false;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
