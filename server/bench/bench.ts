/**
 * `npm run bench`: streaming throughput, time to first chunk and server cost of every transport,
 * next to the floors they are judged against — the upstream itself, a hand-written pass-through
 * relay and a bare tRPC relay. Prints one markdown table and the target checks; writes nothing.
 *
 * Every server runs in its own process so its CPU time and peak RSS are its own; the load
 * generator runs here. `BENCH_QUICK=1` runs a tiny version (c=1 and 8) as a smoke test.
 *
 * A second part follows (slow-bench.ts): 1,000 slow streams held at once, 1,000 fast-paced streams
 * on fresh tRPC WebSockets (overload: refusals must be coded, none may time out) and tRPC resume
 * latency, on the embedded default and on Redis. `BENCH_SLOW=0` skips it; `BENCH_ONLY=slow` runs only it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drive, httpSseTarget, MAX_SOCKETS, openaiBody, relayTrpcTarget, type OpenSession } from './load-clients.ts';
import { envWords, measurePhase, nameMatches, OPENAI, OUR_TARGETS, TRPC_SSE, TRPC_WS, toWebSocket, type PhasePlan, type Row } from './measure.ts';
import { fixed, markdownTable } from './report.ts';
import { runSlowBench } from './slow-bench.ts';
import { buildOurServer, resetPeakRss, startOurServer, startServer, type ServerProcess } from './server-process.ts';

const quick = process.env.BENCH_QUICK === '1';

/**
 * Sized so the full run stays within about five minutes on two cores. Warm-up runs at the
 * phase's own concurrency, so every connection or socket exists and the JIT is warm before
 * the clock starts.
 */
const phases: PhasePlan[] = quick
  ? [
      { concurrency: 1, warmup: 10, requests: 20 },
      { concurrency: 8, warmup: 16, requests: 80 },
    ]
  : [
      { concurrency: 1, warmup: 100, requests: 200 },
      { concurrency: 64, warmup: 256, requests: 1280 },
      { concurrency: 512, warmup: 512, requests: 2560 },
    ];
/**
 * Each target starts in a fresh process; before its first phase it gets this much traffic, so
 * the c=1 phase measures optimised code, not the JIT warming up.
 */
const TARGET_WARMUP = quick ? { concurrency: 8, requests: 40 } : { concurrency: 16, requests: 600 };
/** A phase stops sending new requests after this long, so a slow target cannot stall the run. */
const PHASE_DEADLINE_MS = quick ? 20_000 : 45_000;
const measure = (target: string, server: ServerProcess, upstream: ServerProcess, open: OpenSession, plan: PhasePlan) =>
  measurePhase(target, server, upstream, open, plan, PHASE_DEADLINE_MS);

function table(rows: Row[]): string {
  const header = [
    'target',
    'concurrency',
    'requests/s',
    'chunks/s',
    'TTFC p50 ms',
    'TTFC p99 ms',
    'server CPU ms/request',
    'peak RSS MB',
    'errors',
  ];
  const lines = rows.map((row) => [
    row.target,
    String(row.concurrency),
    fixed(row.requestsPerSecond, 0),
    fixed(row.chunksPerSecond, 0),
    fixed(row.ttfcP50Ms, 2),
    fixed(row.ttfcP99Ms, 2),
    fixed(row.cpuMsPerRequest, 3),
    fixed(row.peakRssMb, 0),
    row.errors === 0 ? '0' : `${row.errors}/${row.sent}`,
  ]);
  return markdownTable(header, lines, 1);
}

function ratio(value: number | undefined, base: number | undefined): string {
  return value === undefined || base === undefined || !(base > 0) ? 'n/a' : `${(value / base).toFixed(2)}×`;
}

function checks(rows: Row[]): string[] {
  const find = (target: string, concurrency: number) =>
    rows.find((row) => row.target === target && row.concurrency === concurrency);
  const loaded = phases.map((plan) => plan.concurrency).filter((concurrency) => concurrency > 1);
  const openaiAtOne = find(OPENAI, 1)?.ttfcP50Ms;
  const upstreamAtOne = find(UPSTREAM, 1)?.ttfcP50Ms;
  const overhead =
    openaiAtOne !== undefined && upstreamAtOne !== undefined ? `${(openaiAtOne - upstreamAtOne).toFixed(2)} ms` : 'n/a';
  return [
    `OpenAI route TTFC p50 overhead at c=1 vs upstream direct: ${overhead} (target ≤ 1 ms)`,
    ...loaded.map(
      (concurrency) =>
        `OpenAI CPU/request vs pass-through relay at ${concurrency}: ${ratio(find(OPENAI, concurrency)?.cpuMsPerRequest, find(PASSTHROUGH, concurrency)?.cpuMsPerRequest)} (target ≤ 1.5×)`,
    ),
    ...loaded.map(
      (concurrency) =>
        `tRPC SSE/WS CPU/request vs bare tRPC relay at ${concurrency}: ` +
        `${ratio(find(TRPC_SSE, concurrency)?.cpuMsPerRequest, find(RELAY_SSE, concurrency)?.cpuMsPerRequest)}/` +
        `${ratio(find(TRPC_WS, concurrency)?.cpuMsPerRequest, find(RELAY_WS, concurrency)?.cpuMsPerRequest)} (target ≤ 1×)`,
    ),
  ];
}

function notes(rows: Row[], peakResetWorks: boolean): string[] {
  const busyClient = rows
    .filter((row) => row.clientCpuPercent >= 90)
    .map((row) => `${row.target} c=${row.concurrency}`);
  const averageOther = rows.reduce((sum, row) => sum + row.otherCpuPercent, 0) / Math.max(1, rows.length);
  const busiest = rows.reduce<Row | undefined>(
    (most, row) => (most === undefined || row.otherCpuPercent > most.otherCpuPercent ? row : most),
    undefined,
  );
  const cutShort = rows
    .filter((row) => row.sent < row.planned)
    .map((row) => `${row.target} c=${row.concurrency} (${row.sent} of ${row.planned})`);
  const failures = rows
    .filter((row) => row.firstError !== undefined)
    .map((row) => `${row.target} c=${row.concurrency}: ${row.firstError}`);
  return [
    `Notes: every target runs in a fresh server process, warmed with ${TARGET_WARMUP.requests} requests at c=${TARGET_WARMUP.concurrency}; ` +
      `${phases.map((plan) => `c=${plan.concurrency}: ${plan.requests} requests after ${plan.warmup} warm-up`).join('; ')}; ` +
      `each answer is 64 content chunks + finish + usage + [DONE]. A chunk is a content-carrying frame; TTFC runs from sending the request ` +
      `(for tRPC: calling subscribe, which opens the SSE request) to the first one.`,
    `Server CPU and peak RSS are those of the process serving the target (the upstream itself for "upstream direct"; the upstream's own ` +
      `cost is not included elsewhere), read from /proc: CPU as the sum of all its threads' schedstat run time; peak RSS as VmHWM, ` +
      (peakResetWorks
        ? 'reset before every phase through clear_refs (to the RSS the process holds then: a phase starts from what earlier ones left).'
        : 'NOT resettable here, so a peak since the process started.'),
    `A request counts as successful only if the content it received adds up to the whole answer. Our server merges deltas that ` +
      `arrive in one read into one frame, so it sends fewer content frames per answer than the relays, which forward every upstream ` +
      `chunk: its chunks/s is lower by design and not comparable with theirs; requests/s is.`,
    `WebSocket targets (tRPC WS, bare tRPC relay WS, plain WS) open min(concurrency, ${MAX_SOCKETS}) sockets before the phase and spread the ` +
      `concurrent runs over them (at c=512: 8 runs per socket). HTTP targets use one keep-alive connection per concurrent request.`,
    `Load generator (this process, one core) at ≥ 90% of a core, so its numbers are bounded by the client: ${busyClient.length > 0 ? busyClient.join(', ') : 'none'}.`,
    `Other processes on this machine (outside the bench) used on average ${fixed(averageOther, 0)}% of a core during the measured ` +
      `phases, at most ${fixed(busiest?.otherCpuPercent ?? Number.NaN, 0)}% (${busiest ? `${busiest.target} c=${busiest.concurrency}` : 'n/a'}) ` +
      `of the ${availableParallelism()} cores: ` +
      (averageOther >= 20
        ? 'the machine was NOT quiet, so throughput and latency are pessimistic and vary between runs.'
        : 'the machine was quiet.'),
    ...(cutShort.length > 0
      ? [
          `Phases stopped by the ${PHASE_DEADLINE_MS / 1000} s deadline before sending all requests: ${cutShort.join(', ')}.`,
        ]
      : []),
    ...failures.map((failure) => `First error — ${failure}`),
  ];
}

const UPSTREAM = 'upstream direct';
const PASSTHROUGH = 'pass-through relay';
const RELAY_SSE = 'bare tRPC relay SSE';
const RELAY_WS = 'bare tRPC relay WS';

type ServerKind = 'passthrough-relay' | 'trpc-relay' | 'astron-chat';

const onlyWords = envWords(process.env.BENCH_ONLY);

/** `BENCH_ONLY=openai,plain` keeps the throughput targets whose name contains one of the words. */
const selected = (name: string) => nameMatches(onlyWords, name);

/**
 * The second part (slow streams, the overload row and tRPC resume) runs by default; `BENCH_SLOW=0`
 * skips it. With BENCH_ONLY it runs only when named: `slow` for all of its tables, `overload` for the
 * overload row, `resume` for the resume table.
 */
const slowPart = {
  slowStreams: process.env.BENCH_SLOW !== '0' && (onlyWords.length === 0 || onlyWords.includes('slow')),
  overload: process.env.BENCH_SLOW !== '0' && (onlyWords.length === 0 || onlyWords.some((word) => ['slow', 'overload'].includes(word))),
  resume:
    process.env.BENCH_SLOW !== '0' &&
    (onlyWords.length === 0 || onlyWords.includes('slow') || onlyWords.includes('resume')),
};

async function main() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repositoryRoot = path.resolve(here, '../..');
  const built = buildOurServer(repositoryRoot);
  const dataDirectory = mkdtempSync(path.join(tmpdir(), 'astron-bench-'));
  // BENCH_CPU_PROF=<dir>: every server writes V8 CPU profiles to <dir>/<server> when it stops.
  const profileDirectory = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
  const nodeOptions = (name: string) => [
    ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
    // A folder per server: the tsx loader thread writes a profile of its own next to the main thread's.
    ...(profileDirectory ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDirectory, name)}`] : []),
  ];

  const upstream = await startServer(
    'fake-upstream',
    path.join(here, 'fake-upstream.ts'),
    {},
    nodeOptions('fake-upstream'),
  );
  const upstreamUrl = `${upstream.url}/v1/chat/completions`;
  let started = 0;

  /**
   * A fresh process per target: every target starts from the same cold state and its peak RSS
   * is not inflated by the heap an earlier target left behind. Our server also gets an empty
   * database of its own, so the runs recorded by earlier targets do not slow it down.
   */
  async function startUnderTest(kind: ServerKind, target: string): Promise<ServerProcess> {
    const name = `${kind}-${++started}`;
    if (kind !== 'astron-chat') {
      return startServer(name, path.join(here, `${kind}.ts`), { UPSTREAM_URL: upstreamUrl }, nodeOptions(name));
    }
    return startOurServer(`astron-chat (${target})`, built, {
      dataDirectory: path.join(dataDirectory, String(started)),
      upstreamBaseUrl: `${upstream.url}/v1`,
      nodeOptions: nodeOptions(name),
    });
  }

  const chatPath = '/v1/chat/completions';
  const targets: Array<{ name: string; server: ServerKind | 'upstream'; open: (url: string) => OpenSession }> = [
    {
      name: UPSTREAM,
      server: 'upstream',
      open: (url) => httpSseTarget({ origin: url, path: chatPath, body: openaiBody }),
    },
    {
      name: PASSTHROUGH,
      server: 'passthrough-relay',
      open: (url) => httpSseTarget({ origin: url, path: chatPath, body: openaiBody }),
    },
    { name: RELAY_SSE, server: 'trpc-relay', open: (url) => relayTrpcTarget(url, 'sse') },
    { name: RELAY_WS, server: 'trpc-relay', open: (url) => relayTrpcTarget(toWebSocket(url), 'ws') },
    ...OUR_TARGETS.map((target) => ({ ...target, server: 'astron-chat' as const })),
  ];

  try {
    const rows: Row[] = [];
    const startedAt = performance.now();
    for (const target of targets.filter((candidate) => selected(candidate.name))) {
      const server = target.server === 'upstream' ? upstream : await startUnderTest(target.server, target.name);
      try {
        const warmupSession = await target.open(server.url)(TARGET_WARMUP.concurrency);
        await drive(warmupSession, TARGET_WARMUP.concurrency, TARGET_WARMUP.requests, PHASE_DEADLINE_MS).finally(() =>
          warmupSession.close(),
        );
        for (const plan of phases) {
          const row = await measure(target.name, server, upstream, target.open(server.url), plan);
          rows.push(row);
          // Progress on stderr: stdout carries only the result.
          process.stderr.write(
            `  ${target.name} c=${plan.concurrency}: ${fixed(row.requestsPerSecond, 0)} req/s, ${row.errors} errors, ` +
              `load generator ${fixed(row.clientCpuPercent, 0)}% of a core ` +
              `(${((performance.now() - startedAt) / 1000).toFixed(0)} s)\n`,
          );
        }
      } finally {
        if (server !== upstream) await server.stop();
      }
    }

    if (rows.length > 0) {
      console.log(table(rows));
      console.log('');
      for (const line of checks(rows)) console.log(line);
      console.log('');
      for (const line of notes(rows, resetPeakRss(upstream.pid))) console.log(line);
    }

    if (slowPart.slowStreams || slowPart.overload || slowPart.resume) {
      const lines = await runSlowBench({
        quick,
        ...slowPart,
        built,
        dataDirectory,
        upstreamOrigin: upstream.url,
        nodeOptions,
      });
      if (rows.length > 0) console.log('');
      for (const line of lines) console.log(line);
    }
  } finally {
    await upstream.stop();
    rmSync(dataDirectory, { recursive: true, force: true });
  }
}

await main();
