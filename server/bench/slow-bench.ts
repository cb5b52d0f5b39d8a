/**
 * The bench's second part: many slow streams held at once, and tRPC resume latency, through one
 * instance of our server on the embedded default and on Redis.
 *
 * Slow streams come from the fake upstream's paced mode (PACED_CHUNK_INTERVAL_MS between chunks),
 * so a stream costs the server little CPU for the time it is open and what is measured is holding
 * connections: memory, time to first chunk while a thousand others are open, and errors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  PACED_CHUNK_INTERVAL_MS,
  pacedAnswer,
  pacedBasePath,
  pacedDurationMs,
  REQUEST_TIMEOUT_MS,
} from './constants.ts';
import {
  astronBody,
  httpSseTarget,
  openaiBody,
  plainWebSocketTarget,
  type OpenSession,
  HANDSHAKE_TIMEOUT_MS,
  type RequestResult,
  type Session,
  trpcSocketPerStreamTarget,
  wireTrpcTarget,
} from './load-clients.ts';
import { envWords, nameMatches } from './measure.ts';
import { fixed, markdownTable, percentile, sortedTtfc } from './report.ts';
import {
  openResumeSession,
  RESUME_CHUNKS,
  RESUME_GAP_MS,
  type ResumeResult,
  type ResumeSession,
} from './resume-client.ts';
import {
  readCpuMs,
  readPeakRssMb,
  resetPeakRss,
  startOurServer,
  type OurServerBuild,
  type ServerProcess,
} from './server-process.ts';

export type SlowBenchOptions = {
  quick: boolean;
  /** Run the slow-stream table, the overload row and the resume table. */
  slowStreams: boolean;
  overload: boolean;
  resume: boolean;
  /** Our server, as `npm start` runs it (see buildOurServer). */
  built: OurServerBuild;
  /** A fresh folder per server goes under it. */
  dataDirectory: string;
  /** Origin of the fake upstream, e.g. http://127.0.0.1:41234. */
  upstreamOrigin: string;
  nodeOptions(name: string): string[];
};

/** How many slow streams are held at once, and how often each worker runs one. */
type SlowPlan = {
  concurrency: number;
  /** Streams each worker runs back to back in the measured phase. */
  rounds: number;
  /** Streams at once before the measured phase, to warm the JIT and the connection pools. */
  warmup: number;
};

const SLOW_PLAN: SlowPlan = { concurrency: 1000, rounds: 2, warmup: 50 };
const QUICK_SLOW_PLAN: SlowPlan = { concurrency: 50, rounds: 1, warmup: 10 };
/**
 * Chunks per slow stream: 30 chunks 200 ms apart hold a stream about 6 s. Keeping 1,000 streams
 * open then means starting about 170 a second; with 2-second streams it would be 500 a second, and
 * the table would measure how fast runs start (CPU) rather than how many connections are held.
 */
const SLOW_STREAM_CHUNKS = 30;
/** Resumes per transport and variant, and how many run at once (each takes about one stream's time). */
const RESUME_PLAN = { resumes: 200, concurrency: 20 };
const QUICK_RESUME_PLAN = { resumes: 10, concurrency: 5 };

const STREAM_MS = pacedDurationMs(SLOW_STREAM_CHUNKS);

/**
 * The overload row: as many streams at once as the slow table, but 20 ms apart per chunk (a stream
 * is over in 0.6 s, so about 1,700 start a second) and each on a tRPC WebSocket of its own, opened
 * as it starts: the load at which handshakes timed out before the server shed load. A refused stream
 * waits its Retry-After before its worker's next one, as a client should.
 */
const OVERLOAD_CHUNK_INTERVAL_MS = 20;
const OVERLOAD_PLAN: SlowPlan = { concurrency: 1000, rounds: 2, warmup: 50 };
const QUICK_OVERLOAD_PLAN: SlowPlan = { concurrency: 50, rounds: 1, warmup: 10 };
const OVERLOAD_STREAM_MS = pacedDurationMs(SLOW_STREAM_CHUNKS, OVERLOAD_CHUNK_INTERVAL_MS);
const OVERLOAD_TRANSPORT = 'tRPC WS, socket per stream';

const TARGETS = {
  rssMb: 200,
  ttfcP99Ms: 100,
};

type Variant = 'embedded' | 'redis';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const REDIS_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test';

/**
 * The server's backends per variant. "redis" is the production shape: Redis for the run log,
 * cache, bus and limits, MariaDB for storage; DEMO_MODE=1 because a server with DATABASE_URL
 * does not seed the demo app, key and bots by default.
 */
function variantEnvironment(variant: Variant): Record<string, string> {
  return variant === 'embedded'
    ? { DATABASE_URL: '', REDIS_URL: '' }
    : { DATABASE_URL: REDIS_DATABASE_URL, REDIS_URL };
}

type SlowRow = {
  variant: Variant;
  transport: string;
  streams: number;
  /** Most streams in flight at once, seen by the load generator. */
  peakConcurrent: number;
  errors: number;
  firstError: string | undefined;
  /** Of the errors: refused with a code (1010) and its Retry-After. */
  refused: number;
  /** Of the errors: no answer in time (handshake or stream). */
  timeouts: number;
  ttfcP50Ms: number;
  ttfcP99Ms: number;
  peakRssMb: number;
  cpuMsPerStream: number;
  wallSeconds: number;
  /** The load generator's own CPU over the phase, percent of one core: near 100, it is the bottleneck. */
  clientCpuPercent: number;
};

type ResumeRow = {
  variant: Variant;
  transport: string;
  resumes: number;
  errors: number;
  firstError: string | undefined;
  resumeP50Ms: number;
  resumeP99Ms: number;
  resumeMaxMs: number;
};

/** Our server on `variant`, its upstream-bot pointed at the paced upstream answering `chunks` chunks. */
function startPacedServer(
  options: SlowBenchOptions,
  variant: Variant,
  label: string,
  serial: number,
  chunks: number,
  intervalMs?: number,
): Promise<ServerProcess> {
  return startOurServer(`astron-chat (${variant}, ${label})`, options.built, {
    dataDirectory: path.join(options.dataDirectory, `slow-${serial}`),
    upstreamBaseUrl: `${options.upstreamOrigin}${pacedBasePath(chunks, intervalMs)}`,
    nodeOptions: options.nodeOptions(`slow-${variant}-${serial}`),
    env: variantEnvironment(variant),
  });
}

/**
 * Every worker starts its first stream at its own moment spread over one stream's duration, then
 * runs `rounds` streams back to back: arrivals are even (about concurrency / STREAM_MS per ms) and
 * `concurrency` streams are in flight once the ramp is over — not a thousand requests in the same
 * millisecond, which would measure a connection storm rather than holding connections.
 */
async function driveStaggered(session: Session, plan: SlowPlan, streamMs = STREAM_MS) {
  const results: RequestResult[] = [];
  let inFlight = 0;
  let peakConcurrent = 0;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: plan.concurrency }, async (_, slot) => {
      await new Promise((resolve) => setTimeout(resolve, (slot * streamMs) / plan.concurrency));
      for (let round = 0; round < plan.rounds; round += 1) {
        inFlight += 1;
        peakConcurrent = Math.max(peakConcurrent, inFlight);
        const result = await session.run(slot);
        results.push(result);
        inFlight -= 1;
        // A refused client comes back when it was told to.
        const waitMs = (result.refused?.retryAfterSeconds ?? 0) * 1000;
        if (waitMs > 0 && round < plan.rounds - 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }),
  );
  return { results, peakConcurrent, elapsedMs: performance.now() - startedAt };
}

async function measureSlowStreams(
  variant: Variant,
  transport: string,
  server: ServerProcess,
  open: OpenSession,
  plan: SlowPlan,
  streamMs = STREAM_MS,
): Promise<SlowRow> {
  // Opens every socket or connection pool the phase needs (for WebSocket: one socket per stream).
  const session = await open(plan.concurrency);
  try {
    await Promise.all(Array.from({ length: plan.warmup }, (_, slot) => session.run(slot)));
    // Where the kernel refuses the reset, VmHWM is the peak since the process started: startup and
    // the warm-up hold fewer streams than the phase, so it is still the phase's peak.
    resetPeakRss(server.pid);
    const cpuBefore = readCpuMs(server.pid);
    const clientCpuBefore = process.cpuUsage();
    const { results, peakConcurrent, elapsedMs } = await driveStaggered(session, plan, streamMs);
    const cpuMs = readCpuMs(server.pid) - cpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const ttfc = sortedTtfc(results);
    const failed = results.filter((result) => !result.ok);
    return {
      variant,
      transport,
      streams: results.length,
      peakConcurrent,
      errors: failed.length,
      // Refusals have a column of their own: the first error is the first other one, if any.
      firstError: (failed.find((result) => !result.refused) ?? failed[0])?.error,
      refused: failed.filter((result) => result.refused).length,
      timeouts: failed.filter((result) => result.timedOut).length,
      ttfcP50Ms: percentile(ttfc, 0.5),
      ttfcP99Ms: percentile(ttfc, 0.99),
      peakRssMb: readPeakRssMb(server.pid),
      cpuMsPerStream: cpuMs / Math.max(1, results.length),
      wallSeconds: elapsedMs / 1000,
      clientCpuPercent: ((clientCpu.user + clientCpu.system) / 1000 / elapsedMs) * 100,
    };
  } finally {
    await session.close();
  }
}

async function measureResume(
  variant: Variant,
  transport: string,
  session: ResumeSession,
  plan: typeof RESUME_PLAN,
): Promise<ResumeRow> {
  const results: ResumeResult[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: plan.concurrency }, async (_, slot) => {
      while (started < plan.resumes) {
        started += 1;
        results.push(await session.run(slot));
      }
    }),
  );
  const latencies = results
    .filter((result) => result.resumeMs !== undefined)
    .map((result) => result.resumeMs!)
    .sort((a, b) => a - b);
  const failed = results.filter((result) => !result.ok);
  return {
    variant,
    transport,
    resumes: results.length,
    errors: failed.length,
    firstError: failed[0]?.error,
    resumeP50Ms: percentile(latencies, 0.5),
    resumeP99Ms: percentile(latencies, 0.99),
    resumeMaxMs: latencies.at(-1) ?? Number.NaN,
  };
}

/** The soft limit on open files of this process, which the servers it spawns inherit. */
function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.NaN;
  }
}

/**
 * Each process holds one socket per stream: the load generator toward the server (for WebSocket
 * transports one socket per stream as well), the server toward the client and toward the
 * upstream (two per stream), the upstream toward the server. Plus files, pools and slack.
 */
function checkOpenFileLimit(concurrency: number): string | undefined {
  const needed = 2 * concurrency + 256;
  const limit = openFileLimit();
  if (!(limit < needed)) return undefined;
  return (
    `WARNING: the open-file limit (ulimit -n) is ${limit}, but ${concurrency} slow streams need about ${needed} ` +
    `file descriptors in the server (a client socket and an upstream socket per stream). Streams will fail with ` +
    `EMFILE; raise it first, e.g. \`ulimit -n 8192 && npm run bench\`.`
  );
}

export async function runSlowBench(options: SlowBenchOptions): Promise<string[]> {
  const slowPlan = options.quick ? QUICK_SLOW_PLAN : SLOW_PLAN;
  const overloadPlan = options.quick ? QUICK_OVERLOAD_PLAN : OVERLOAD_PLAN;
  const resumePlan = options.quick ? QUICK_RESUME_PLAN : RESUME_PLAN;
  const variants: Variant[] = (process.env.BENCH_SLOW_VARIANTS ?? 'embedded,redis')
    .split(',')
    .map((word) => word.trim())
    .filter((word): word is Variant => word === 'embedded' || word === 'redis');
  // BENCH_SLOW_TRANSPORTS=plain,openai keeps the transports whose name contains one of the words.
  const transportWords = envWords(process.env.BENCH_SLOW_TRANSPORTS);
  const transportSelected = (name: string) => nameMatches(transportWords, name);
  const output: string[] = [];
  const limitWarning =
    options.slowStreams || options.overload ? checkOpenFileLimit(Math.max(slowPlan.concurrency, overloadPlan.concurrency)) : undefined;
  if (limitWarning) process.stderr.write(`${limitWarning}\n`);

  const slowTarget = {
    expectedAnswer: pacedAnswer(SLOW_STREAM_CHUNKS),
    // One socket per stream, like the HTTP transports' one connection per stream.
    sockets: (concurrency: number) => concurrency,
  };
  const authorization = { authorization: 'Bearer sk-demo' };
  const transports: Array<{ name: string; open: (url: string) => OpenSession }> = [
    {
      name: 'OpenAI REST',
      open: (url) =>
        httpSseTarget({ origin: url, path: '/v1/chat/completions', headers: authorization, body: openaiBody, ...slowTarget }),
    },
    {
      name: 'Astron REST',
      open: (url) =>
        httpSseTarget({
          origin: url,
          path: '/agent/v1/chat/completions',
          headers: authorization,
          body: astronBody,
          ...slowTarget,
        }),
    },
    { name: 'tRPC SSE', open: (url) => wireTrpcTarget(`${url}/trpc`, 'sse', slowTarget) },
    { name: 'tRPC WS', open: (url) => wireTrpcTarget(`${url.replace(/^http/, 'ws')}/trpc`, 'ws', slowTarget) },
    { name: 'plain WS', open: (url) => plainWebSocketTarget(url, slowTarget) },
  ];

  const slowRows: SlowRow[] = [];
  const overloadRows: SlowRow[] = [];
  const resumeRows: ResumeRow[] = [];
  const skipped: string[] = [];
  let serial = 0;
  const startedAt = performance.now();
  const progress = (line: string) =>
    process.stderr.write(`  ${line} (${((performance.now() - startedAt) / 1000).toFixed(0)} s)\n`);

  for (const variant of variants) {
    // A fresh server per measurement, as in the first table: peak RSS is then this transport's
    // alone, not inflated by what an earlier transport left on the heap.
    const start = async (label: string, chunks: number, intervalMs?: number) => {
      try {
        return await startPacedServer(options, variant, label, ++serial, chunks, intervalMs);
      } catch (error) {
        skipped.push(`${variant} ${label}: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
    };
    if (options.slowStreams) {
      for (const transport of transports.filter((candidate) => transportSelected(candidate.name))) {
        const server = await start(transport.name, SLOW_STREAM_CHUNKS);
        if (!server) continue;
        try {
          const row = await measureSlowStreams(variant, transport.name, server, transport.open(server.url), slowPlan);
          slowRows.push(row);
          progress(
            `slow ${variant} ${transport.name}: ${row.streams} streams, ${row.errors} errors, ` +
              `TTFC p99 ${fixed(row.ttfcP99Ms, 1)} ms, peak RSS ${fixed(row.peakRssMb, 0)} MB, ` +
              `load generator ${fixed(row.clientCpuPercent, 0)}% of a core`,
          );
        } finally {
          await server.stop();
        }
      }
    }
    if (options.overload && transportSelected(OVERLOAD_TRANSPORT)) {
      const server = await start(OVERLOAD_TRANSPORT, SLOW_STREAM_CHUNKS, OVERLOAD_CHUNK_INTERVAL_MS);
      if (server) {
        try {
          const open = trpcSocketPerStreamTarget(`${server.url.replace(/^http/, 'ws')}/trpc`, slowTarget);
          const row = await measureSlowStreams(variant, OVERLOAD_TRANSPORT, server, open, overloadPlan, OVERLOAD_STREAM_MS);
          overloadRows.push(row);
          progress(
            `overload ${variant} ${OVERLOAD_TRANSPORT}: ${row.streams} streams, ${row.refused} refused (1010), ` +
              `${row.timeouts} timeouts, ${otherErrors(row)} other errors, TTFC p99 ${fixed(row.ttfcP99Ms, 1)} ms`,
          );
        } finally {
          await server.stop();
        }
      }
    }
    if (options.resume) {
      for (const link of ['sse', 'ws'] as const) {
        const transport = link === 'sse' ? 'tRPC SSE' : 'tRPC WS';
        if (!transportSelected(transport)) continue;
        const server = await start(`resume ${transport}`, RESUME_CHUNKS);
        if (!server) continue;
        try {
          const session = await openResumeSession(`${server.url}/trpc`, link, resumePlan.concurrency);
          try {
            // A few cycles first, so the measured ones do not include the JIT warming up.
            await Promise.all(Array.from({ length: resumePlan.concurrency }, (_, slot) => session.run(slot)));
            const row = await measureResume(variant, transport, session, resumePlan);
            resumeRows.push(row);
            progress(
              `resume ${variant} ${transport}: ${row.resumes} resumes, ${row.errors} errors, p99 ${fixed(row.resumeP99Ms, 1)} ms`,
            );
          } finally {
            await session.close();
          }
        } finally {
          await server.stop();
        }
      }
    }
  }

  if (options.slowStreams) {
    output.push(
      `Slow streams: ${slowPlan.concurrency} at once, ${SLOW_STREAM_CHUNKS} chunks ${PACED_CHUNK_INTERVAL_MS} ms apart each (about ${(STREAM_MS / 1000).toFixed(1)} s)`,
      '',
      slowTable(slowRows),
      '',
      ...slowChecks(slowRows),
      '',
    );
  }
  if (options.overload) {
    output.push(
      `Overload: ${overloadPlan.concurrency} at once, ${SLOW_STREAM_CHUNKS} chunks ${OVERLOAD_CHUNK_INTERVAL_MS} ms apart each (about ${(OVERLOAD_STREAM_MS / 1000).toFixed(1)} s), a tRPC WebSocket of its own per stream`,
      '',
      slowTable(overloadRows, true),
      '',
      ...overloadChecks(overloadRows),
      '',
    );
  }
  if (options.resume) {
    output.push('tRPC resume latency (re-subscribe with lastEventId → first replayed event)', '', resumeTable(resumeRows), '');
    output.push(...resumeChecks(resumeRows), '');
  }
  output.push(...slowNotes(slowPlan, resumePlan, slowRows, resumeRows, options, overloadRows), ...(limitWarning ? [limitWarning] : []));
  for (const line of skipped) output.push(`Skipped — ${line}`);
  return output;
}

function errorsCell(errors: number, total: number): string {
  return errors === 0 ? '0' : `${errors}/${total}`;
}

/** Errors of a row that are neither coded refusals nor timeouts. */
const otherErrors = (row: SlowRow) => row.errors - row.refused - row.timeouts;

/** The slow-stream table; `outcomes` splits its errors into coded refusals, timeouts and the rest (the overload row). */
function slowTable(rows: SlowRow[], outcomes = false): string {
  return markdownTable(
    [
      'variant',
      'transport',
      'streams',
      'peak concurrent',
      ...(outcomes ? ['served', 'refused (1010)', 'timeouts', 'other errors'] : ['errors']),
      'TTFC p50 ms',
      'TTFC p99 ms',
      'peak RSS MB',
      'server CPU ms/stream',
      'wall time s',
      'load generator CPU %',
    ],
    rows.map((row) => [
      row.variant,
      row.transport,
      String(row.streams),
      String(row.peakConcurrent),
      ...(outcomes
        ? [String(row.streams - row.errors), String(row.refused), String(row.timeouts), String(otherErrors(row))]
        : [errorsCell(row.errors, row.streams)]),
      fixed(row.ttfcP50Ms, 2),
      fixed(row.ttfcP99Ms, 2),
      fixed(row.peakRssMb, 0),
      fixed(row.cpuMsPerStream, 2),
      fixed(row.wallSeconds, 1),
      fixed(row.clientCpuPercent, 0),
    ]),
    2,
  );
}

function overloadChecks(rows: SlowRow[]): string[] {
  return [
    `Overload, 0 timeouts: ${verdict(
      rows,
      (row) => row.timeouts > 0,
      (row) => `${row.timeouts} timeouts`,
    )}`,
    `Overload, every refusal coded (no errors but 1010 refusals): ${verdict(
      rows,
      (row) => otherErrors(row) > 0,
      (row) => `${otherErrors(row)} other errors`,
    )}`,
  ];
}

function resumeTable(rows: ResumeRow[]): string {
  return markdownTable(
    ['variant', 'transport', 'resumes', 'errors', 'resume p50 ms', 'resume p99 ms', 'resume max ms'],
    rows.map((row) => [
      row.variant,
      row.transport,
      String(row.resumes),
      errorsCell(row.errors, row.resumes),
      fixed(row.resumeP50Ms, 2),
      fixed(row.resumeP99Ms, 2),
      fixed(row.resumeMaxMs, 2),
    ]),
    2,
  );
}

/** "met" or "NOT met (the rows that miss it)". */
function verdict<Row extends { variant: Variant; transport: string }>(
  rows: Row[],
  misses: (row: Row) => boolean,
  describe: (row: Row) => string,
): string {
  if (rows.length === 0) return 'not measured';
  const missing = rows.filter(misses);
  return missing.length === 0
    ? 'met'
    : `NOT met (${missing.map((row) => `${row.variant} ${row.transport}: ${describe(row)}`).join('; ')})`;
}

function slowChecks(rows: SlowRow[]): string[] {
  const highest = (values: number[]) => (values.length > 0 ? Math.max(...values) : Number.NaN);
  return [
    `Slow streams, RSS < ${TARGETS.rssMb} MB: ${verdict(
      rows,
      (row) => !(row.peakRssMb < TARGETS.rssMb),
      (row) => `${fixed(row.peakRssMb, 0)} MB`,
    )} (highest ${fixed(highest(rows.map((row) => row.peakRssMb)), 0)} MB)`,
    `Slow streams, TTFC p99 < ${TARGETS.ttfcP99Ms} ms: ${verdict(
      rows,
      (row) => !(row.ttfcP99Ms < TARGETS.ttfcP99Ms),
      (row) => `${fixed(row.ttfcP99Ms, 1)} ms`,
    )} (highest ${fixed(highest(rows.map((row) => row.ttfcP99Ms)), 1)} ms)`,
    `Slow streams, 0 errors: ${verdict(
      rows,
      (row) => row.errors > 0,
      (row) => `${row.errors} errors`,
    )}`,
  ];
}

function resumeChecks(rows: ResumeRow[]): string[] {
  return [
    `Resume, 0 errors (none lost, none repeated, every run finished): ${verdict(
      rows,
      (row) => row.errors > 0,
      (row) => `${row.errors} errors`,
    )}`,
  ];
}

function slowNotes(
  slowPlan: SlowPlan,
  resumePlan: typeof RESUME_PLAN,
  slowRows: SlowRow[],
  resumeRows: ResumeRow[],
  options: SlowBenchOptions,
  overloadRows: SlowRow[],
): string[] {
  const failures = [
    ...slowRows.filter((row) => row.firstError).map((row) => `slow ${row.variant} ${row.transport}: ${row.firstError}`),
    ...overloadRows
      .filter((row) => row.firstError)
      .map((row) => `overload ${row.variant} ${row.transport}: ${row.firstError}`),
    ...resumeRows
      .filter((row) => row.firstError)
      .map((row) => `resume ${row.variant} ${row.transport}: ${row.firstError}`),
  ];
  return [
    `Notes: variants — embedded: SQLite file and in-process cache, bus and run log; redis: Redis (${REDIS_URL}) for run log, ` +
      `cache, bus and limits and MariaDB (${REDIS_DATABASE_URL.replace(/\/\/[^@/]*@/, '//…@')}) for storage ` +
      `(BENCH_REDIS_URL / BENCH_DATABASE_URL override them). One server process per row, fresh, on defaults (no tuning).`,
    ...(options.slowStreams
      ? [
          `Slow streams: ${slowPlan.concurrency} workers, each starting at its own moment spread over one stream's duration ` +
            `(${STREAM_MS} ms) and then running ${slowPlan.rounds} stream(s) back to back, so ${slowPlan.concurrency} streams are in ` +
            `flight at once once the ramp is over ("peak concurrent"). Before that, ${slowPlan.warmup} streams at once warm the server. ` +
            `HTTP transports use one keep-alive connection per stream; WebSocket transports (tRPC WS, plain WS) open one socket per ` +
            `stream (${slowPlan.concurrency} sockets), so the server holds ${slowPlan.concurrency} client connections either way, plus ` +
            `${slowPlan.concurrency} to the upstream. Every client is a raw one (undici, ws, eventsource-parser); the tRPC rows speak ` +
            `tRPC's SSE frames and WebSocket messages themselves, the bytes httpSubscriptionLink and wsLink exchange, so that the ` +
            `load generator's own CPU stays out of the server's figures (the throughput table and the tests use @trpc/client). ` +
            `TTFC runs from sending the request to the first text. ` +
            `Peak RSS is VmHWM of the server process, reset after the warm-up where the kernel allows it; server CPU is per stream ` +
            `over the measured phase; wall time is the measured phase's; "load generator CPU %" is this process's, of one core ` +
            `(near 100, the client and not the server bounds TTFC). A request times out after ${REQUEST_TIMEOUT_MS / 1000} s.`,
        ]
      : []),
    ...(options.overload
      ? [
          `Overload: driven as the slow streams are (${OVERLOAD_PLAN.concurrency} staggered workers, ${OVERLOAD_PLAN.rounds} streams ` +
            `each), but each stream opens a tRPC WebSocket of its own as it starts (connectionParams, then chat.completions) and ` +
            `closes it when it ends, so every stream pays a handshake while the others stream. A handshake not done after ` +
            `${HANDSHAKE_TIMEOUT_MS / 1000} s, or a stream not ended after ${REQUEST_TIMEOUT_MS / 1000} s, is a timeout. A refusal is ` +
            `the upgrade closed with 1013 and {"code":1010,…} or an error with appCode 1010 (OVERLOAD_LAG_MS, default 500 ms); ` +
            `a refused worker waits its Retry-After before its next stream. "Other errors" are failures with no code.`,
        ]
      : []),
    ...(options.resume
      ? [
          `Resume: ${resumePlan.resumes} cycles per row, ${resumePlan.concurrency} at once (one WebSocket per worker for tRPC WS), ` +
            `after ${resumePlan.concurrency} warm-up cycles. A cycle: chat.runs.create on the paced upstream ` +
            `(${RESUME_CHUNKS} chunks ${PACED_CHUNK_INTERVAL_MS} ms apart), chat.runs.stream until ` +
            `2 text deltas, unsubscribe (SSE: the HTTP request is closed; WS: subscription.stop on the same socket), wait ` +
            `${RESUME_GAP_MS} ms so at least one missed event waits in the run log, re-subscribe with lastEventId; the latency runs ` +
            `from that call to the first event. The run is then followed to its end: an error is a gap or a repeat in seq ` +
            `(0, 1, 2, … across both subscriptions), a missing finish or text that does not add up to the answer.`,
        ]
      : []),
    ...failures.map((failure) => `First error — ${failure}`),
  ];
}
