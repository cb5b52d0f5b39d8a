/**
 * Resume latency over tRPC: start a run with `chat.runs.create`, follow it with `chat.runs.stream`,
 * drop the subscription after a few events, re-subscribe with `lastEventId` = the last id seen and
 * time the first replayed event. The rest of the run is followed to its end, so a lost or repeated
 * event anywhere across the resume (a gap or a repeat in `seq`, or text that does not add up to
 * the answer) counts as an error.
 */
import {
  createTRPCClient,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import { EventSource, type FetchLike } from 'eventsource';
import superjson from 'superjson';
import { Agent, fetch as undiciFetch } from 'undici';
import type { AppRouter } from '../src/transport/trpc/trpc.router.ts';
import { PACED_CHUNK_INTERVAL_MS, pacedAnswer, REQUEST_TIMEOUT_MS } from './constants.ts';
import { astronBody, DEMO_API_KEY, wsClients, type TrpcClients } from './load-clients.ts';

/**
 * Chunks of the paced answer the server under test must be given (`pacedBasePath(RESUME_CHUNKS)`):
 * enough that a run outlives the drop and the gap, few enough that a cycle takes about two seconds.
 */
export const RESUME_CHUNKS = 10;
const EXPECTED_ANSWER = pacedAnswer(RESUME_CHUNKS);
/** The subscription is dropped once this many text deltas arrived. */
const DELTAS_BEFORE_DROP = 2;
/**
 * Wait between dropping and re-subscribing. Longer than one chunk interval, so the run log holds
 * at least one event the client has not seen: the first event after the resume is then a replayed
 * one, and its latency is the server's replay, not the upstream's pacing.
 */
export const RESUME_GAP_MS = PACED_CHUNK_INTERVAL_MS + 100;

export type ResumeResult = {
  ok: boolean;
  /** From calling subscribe with `lastEventId` to the first event of the resumed subscription, ms. */
  resumeMs: number | undefined;
  error?: string;
};

export type ResumeSession = {
  run(slot: number): Promise<ResumeResult>;
  close(): Promise<void>;
};

/** What a `tracked` ChatEvent arrives as on the client. */
type TrackedEvent = { id: string; data: { type: string; seq: number; text?: string } };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Clients for `link`: over SSE, subscriptions through httpSubscriptionLink and the mutation through
 * httpLink (both with the API key); over WebSocket, everything on `sockets` wsLink sockets.
 */
async function resumeClients(url: string, link: 'sse' | 'ws', sockets: number): Promise<TrpcClients<AppRouter>> {
  if (link === 'ws') return wsClients<AppRouter>(url.replace(/^http/, 'ws'), sockets, true);
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const fetchThroughAgent: FetchLike = (input, init) =>
    undiciFetch(input, {
      ...init,
      headers: { ...init?.headers, authorization: `Bearer ${DEMO_API_KEY}` },
      dispatcher: agent,
    });
  const links: TRPCLink<AppRouter>[] = [
    splitLink({
      condition: (operation) => operation.type === 'subscription',
      true: httpSubscriptionLink({
        url,
        EventSource,
        eventSourceOptions: { fetch: fetchThroughAgent },
        transformer: superjson,
      }),
      // Node's global fetch: the mutation is one short request, not what is measured.
      false: httpLink<AppRouter>({
        url,
        transformer: superjson,
        headers: { authorization: `Bearer ${DEMO_API_KEY}` },
      }),
    }),
  ];
  const client = createTRPCClient<AppRouter>({ links });
  return { pick: () => client, close: () => agent.close() };
}

/**
 * Follows `runId` from after `lastEventId` (from the start when undefined), handing each event to
 * `onEvent` until it answers 'stop' or the run ends; resolves with why it ended.
 */
function follow(
  client: TRPCClient<AppRouter>,
  runId: string,
  lastEventId: string | undefined,
  onEvent: (event: TrackedEvent) => 'go-on' | 'stop',
): Promise<'stopped' | 'ended'> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: 'stopped' | 'ended' | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Deferred: settle may run inside subscribe(), before `subscription` below is assigned.
      queueMicrotask(() => subscription.unsubscribe());
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => settle(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
    const subscription = client.chat.runs.stream.subscribe(lastEventId ? { runId, lastEventId } : { runId }, {
      onData(value) {
        // Events the client still had in hand when it decided to drop are not delivered: they are
        // exactly what the resume must replay.
        if (settled) return;
        if (onEvent(value) === 'stop') settle('stopped');
      },
      onError: (error) => settle(new Error(messageOf(error))),
      onComplete: () => settle('ended'),
      onStopped: () => settle('ended'),
      // httpSubscriptionLink would reconnect on its own and hide the failure: count it and stop.
      onConnectionStateChange(state) {
        if (state.state === 'connecting' && state.error)
          settle(new Error(`reconnecting after: ${messageOf(state.error)}`));
      },
    });
  });
}

/** One create → follow → drop → resume → follow-to-the-end cycle. */
async function resumeOnce(client: TRPCClient<AppRouter>): Promise<ResumeResult> {
  const seen: number[] = [];
  let text = '';
  let finished = false;
  let failure: string | undefined;
  let lastEventId: string | undefined;
  let resumeMs: number | undefined;
  const record = (event: TrackedEvent) => {
    const { data } = event;
    seen.push(data.seq);
    lastEventId = event.id;
    if (data.type === 'text-delta') text += data.text ?? '';
    if (data.type === 'finish') finished = true;
    if (data.type === 'error') failure ??= `in-band error: ${JSON.stringify(data).slice(0, 200)}`;
  };
  try {
    const { runId } = await client.chat.runs.create.mutate(astronBody);
    let deltas = 0;
    const first = await follow(client, runId, undefined, (event) => {
      record(event);
      if (event.data.type === 'text-delta') deltas += 1;
      return deltas >= DELTAS_BEFORE_DROP ? 'stop' : 'go-on';
    });
    if (first === 'ended') {
      failure ??= `the run ended after ${seen.length} events, before the subscription could be dropped`;
    } else {
      await new Promise((resolve) => setTimeout(resolve, RESUME_GAP_MS));
      const resubscribedAt = performance.now();
      await follow(client, runId, lastEventId, (event) => {
        resumeMs ??= performance.now() - resubscribedAt;
        record(event);
        return 'go-on';
      });
    }
  } catch (error) {
    failure ??= messageOf(error);
  }
  // Every event exactly once: seq runs 0, 1, 2, … without a gap or a repeat across the resume.
  const broken = seen.findIndex((seq, index) => seq !== index);
  if (broken >= 0) failure ??= `seq ${seen[broken]} where ${broken} was due (seq seen: ${seen.join(',')})`;
  if (!finished) failure ??= 'no finish event';
  if (text !== EXPECTED_ANSWER) failure ??= `text of ${text.length} characters, ${EXPECTED_ANSWER.length} expected`;
  return { ok: failure === undefined, resumeMs, ...(failure === undefined ? {} : { error: failure }) };
}

/**
 * A resume session against our server at `url` (http://…/trpc); over WebSocket one socket per
 * concurrent worker. Runs must come from the paced upstream, so a run outlives the drop.
 */
export async function openResumeSession(url: string, link: 'sse' | 'ws', concurrency: number): Promise<ResumeSession> {
  const clients = await resumeClients(url, link, concurrency);
  return {
    run: (slot) => resumeOnce(clients.pick(slot)),
    close: () => clients.close(),
  };
}
