/**
 * Totals token usage per app from the ASTRON_EVENTS stream (the `astron.usage.recorded` events), with
 * a durable consumer so a restart continues where it stopped. Run next to a server started with
 * EVENT_SINK_URL:
 *
 *   NATS_URL=nats://127.0.0.1:4222 npx tsx examples/usage-per-app.ts
 *
 * Prints the running totals after each event; Ctrl-C stops it (acknowledged events are not re-read).
 */
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

type UsageRecorded = {
  id: string;
  type: 'usage.recorded';
  version: number;
  appId: string;
  runId: string;
  data: { promptTokens: number; completionTokens: number; totalTokens: number };
};

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const connection = await connect({ servers: url.replace(/^nats:\/\//, '') });
const manager = await jetstreamManager(connection);
await manager.consumers.add('ASTRON_EVENTS', {
  durable_name: 'usage-per-app',
  filter_subject: 'astron.usage.recorded',
  ack_policy: AckPolicy.Explicit,
});
const consumer = await jetstream(connection).consumers.get('ASTRON_EVENTS', 'usage-per-app');

const totals = new Map<string, { runs: number; promptTokens: number; completionTokens: number; totalTokens: number }>();
const stop = () => void connection.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

for await (const message of await consumer.consume()) {
  const event = message.json<UsageRecorded>();
  if (event.version !== 1) {
    message.term(); // a newer format this example does not know
    continue;
  }
  const total = totals.get(event.appId) ?? { runs: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  total.runs += 1;
  total.promptTokens += event.data.promptTokens;
  total.completionTokens += event.data.completionTokens;
  total.totalTokens += event.data.totalTokens;
  totals.set(event.appId, total);
  message.ack();
  // eslint-disable-next-line no-console -- the example's output is for the person running it
  console.log(JSON.stringify(Object.fromEntries(totals)));
}
