import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { OutboxRepository } from '../store/outbox.repository.ts';
import type { Metrics } from './metrics.ts';

export const EVENT_STREAM = 'ASTRON_EVENTS';
export const EVENT_SUBJECTS = 'astron.>';

/** Events read from the outbox per round. */
const BATCH = 100;
/** Pause after a failed publish, and between polls when idle, ms. */
const RETRY_MS = 1_000;
const POLL_MS = 500;
/** JetStream drops a message whose Nats-Msg-Id it saw this recently (a relay retrying after a lost ack). */
const DUPLICATE_WINDOW_NS = 10 * 60 * 1e9;

export type EventSink = {
  kind: 'nats';
  /** A round trip to the broker; rejects when it is unreachable. */
  ping(): Promise<void>;
  /** Publish what the outbox holds now instead of at the next poll. */
  nudge(): void;
  close(): Promise<void>;
};

/**
 * The relay from the outbox to NATS JetStream: publishes unsent events in `seq` order, each with
 * its event id as Nats-Msg-Id, and marks them sent. While the broker is down it retries the same
 * event every second, so order holds and nothing is lost; events wait in the database meanwhile.
 * Several instances may relay the same rows; the message id makes the second publish a no-op.
 * The NATS client is loaded only here: a server with no sink does not carry it.
 */
export async function startEventSink(options: {
  url: string;
  outbox: OutboxRepository;
  metrics: Metrics;
  logger: Logger;
}): Promise<EventSink> {
  const { outbox, metrics, logger } = options;
  const [{ jetstream, jetstreamManager }, { connect }] = await Promise.all([
    import('@nats-io/jetstream'),
    import('@nats-io/transport-node'),
  ]);
  const connection: NatsConnection = await connect({
    servers: options.url.replace(/^nats:\/\//, ''),
    name: 'astron-chat',
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  const js: JetStreamClient = jetstream(connection, { timeout: 3_000 });
  let streamReady = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function ensureStream(): Promise<void> {
    if (streamReady) return;
    const manager = await jetstreamManager(connection, { timeout: 3_000 });
    try {
      await manager.streams.info(EVENT_STREAM);
    } catch {
      await manager.streams.add({
        name: EVENT_STREAM,
        subjects: [EVENT_SUBJECTS],
        duplicate_window: DUPLICATE_WINDOW_NS,
      });
    }
    streamReady = true;
  }

  async function relayOnce(): Promise<number> {
    const events = await outbox.pending(BATCH);
    metrics.eventSinkPending.set(events.length);
    metrics.eventSinkLag.set(events[0] ? (Date.now() - events[0].createdAt) / 1000 : 0);
    if (events.length === 0) return 0;
    await ensureStream();
    const sent: number[] = [];
    try {
      for (const event of events) {
        await js.publish(event.subject, event.payload, { msgID: event.id });
        sent.push(event.seq);
        metrics.eventSinkPublished.inc();
      }
    } finally {
      await outbox.markSent(sent, Date.now());
    }
    return sent.length;
  }

  const loop = (async () => {
    let lastCleanup = 0;
    while (!stopped) {
      try {
        const sent = await relayOnce();
        if (Date.now() - lastCleanup > 60_000) {
          lastCleanup = Date.now();
          await outbox.deleteSentBefore(Date.now() - 3_600_000);
        }
        if (sent < BATCH) await sleep(POLL_MS);
      } catch (error) {
        if (stopped) break;
        metrics.eventSinkFailures.inc();
        logger.warn({ err: error }, 'event sink: publish failed; retrying');
        await sleep(RETRY_MS);
      }
    }
  })();

  return {
    kind: 'nats',
    async ping() {
      await connection.rtt();
    },
    nudge() {
      wake?.();
    },
    async close() {
      stopped = true;
      wake?.();
      await loop;
      await connection.drain().catch(() => connection.close());
    },
  };
}
