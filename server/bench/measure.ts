/**
 * One measured phase of the bench: a warm-up, then `requests` at `concurrency`, with the server's
 * CPU (all threads), peak RSS, throughput and time to first chunk of that phase alone. Shared by
 * `npm run bench` and `npm run bench:compare`.
 */
import {
  astronBody,
  DEMO_API_KEY,
  drive,
  httpSseTarget,
  openaiBody,
  ourTrpcTarget,
  plainWebSocketTarget,
  type OpenSession,
  type RequestResult,
} from './load-clients.ts';
import { percentile, sortedTtfc } from './report.ts';
import {
  readCpuMs,
  readMachineBusyMs,
  readPeakRssMb,
  resetPeakRss,
  type ServerProcess,
} from './server-process.ts';

export type PhasePlan = { concurrency: number; warmup: number; requests: number };

export type Row = {
  target: string;
  concurrency: number;
  sent: number;
  requestsPerSecond: number;
  chunksPerSecond: number;
  ttfcP50Ms: number;
  ttfcP99Ms: number;
  cpuMsPerRequest: number;
  peakRssMb: number;
  /** Requests that failed; those the deadline kept from being sent are not counted here. */
  errors: number;
  firstError: string | undefined;
  planned: number;
  /** The load generator's own CPU over the phase, percent of one core. */
  clientCpuPercent: number;
  /** CPU that processes outside the bench used over the phase, percent of one core. */
  otherCpuPercent: number;
};

function summarize(results: RequestResult[]) {
  const ttfc = sortedTtfc(results);
  const failed = results.filter((result) => !result.ok);
  return {
    completed: results.length - failed.length,
    chunks: results.reduce((sum, result) => sum + result.chunks, 0),
    ttfcP50Ms: percentile(ttfc, 0.5),
    ttfcP99Ms: percentile(ttfc, 0.99),
    errors: failed.length,
    firstError: failed[0]?.error,
  };
}

export async function measurePhase(
  target: string,
  server: ServerProcess,
  upstream: ServerProcess,
  open: OpenSession,
  plan: PhasePlan,
  deadlineMs: number,
): Promise<Row> {
  const session = await open(plan.concurrency);
  try {
    await drive(session, plan.concurrency, plan.warmup, deadlineMs);
    // Snapshots after the warm-up: only the measured requests are charged.
    const peakReset = resetPeakRss(server.pid);
    const cpuBefore = readCpuMs(server.pid);
    const upstreamCpuBefore = readCpuMs(upstream.pid);
    const clientCpuBefore = process.cpuUsage();
    const machineBefore = readMachineBusyMs();
    const { results, elapsedMs } = await drive(session, plan.concurrency, plan.requests, deadlineMs);
    const machineMs = readMachineBusyMs() - machineBefore;
    const cpuMs = readCpuMs(server.pid) - cpuBefore;
    const upstreamCpuMs = server === upstream ? 0 : readCpuMs(upstream.pid) - upstreamCpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000;
    const summary = summarize(results);
    const seconds = elapsedMs / 1000;
    return {
      target,
      concurrency: plan.concurrency,
      sent: results.length,
      planned: plan.requests,
      requestsPerSecond: summary.completed / seconds,
      chunksPerSecond: summary.chunks / seconds,
      ttfcP50Ms: summary.ttfcP50Ms,
      ttfcP99Ms: summary.ttfcP99Ms,
      cpuMsPerRequest: cpuMs / Math.max(1, results.length),
      peakRssMb: peakReset ? readPeakRssMb(server.pid) : Number.NaN,
      errors: summary.errors,
      firstError: summary.firstError,
      clientCpuPercent: (clientCpuMs / elapsedMs) * 100,
      otherCpuPercent: (Math.max(0, machineMs - cpuMs - upstreamCpuMs - clientCpuMs) / elapsedMs) * 100,
    };
  } finally {
    await session.close();
  }
}


export const OPENAI = 'OpenAI REST';
export const ASTRON = 'Astron REST';
export const TRPC_SSE = 'tRPC SSE';
export const TRPC_WS = 'tRPC WS';
export const PLAIN_WS = 'plain WS';

export const toWebSocket = (url: string) => url.replace(/^http/, 'ws');
const authorization = { authorization: `Bearer ${DEMO_API_KEY}` };

/** Our server's transports, as the bench drives them: one target each, opened on the server's URL. */
export const OUR_TARGETS: Array<{ name: string; open: (url: string) => OpenSession }> = [
  {
    name: OPENAI,
    open: (url) => httpSseTarget({ origin: url, path: '/v1/chat/completions', headers: authorization, body: openaiBody }),
  },
  {
    name: ASTRON,
    open: (url) =>
      httpSseTarget({ origin: url, path: '/agent/v1/chat/completions', headers: authorization, body: astronBody }),
  },
  { name: TRPC_SSE, open: (url) => ourTrpcTarget(`${url}/trpc`, 'sse') },
  { name: TRPC_WS, open: (url) => ourTrpcTarget(`${toWebSocket(url)}/trpc`, 'ws') },
  { name: PLAIN_WS, open: (url) => plainWebSocketTarget(url) },
];

/** A comma-separated list of words from the environment (`BENCH_ONLY=openai,plain`), lower-cased. */
export function envWords(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((word) => word.trim().toLowerCase())
    .filter(Boolean);
}

/** Whether `name` contains one of `words`; every name does when there are none. */
export function nameMatches(words: string[], name: string): boolean {
  return words.length === 0 || words.some((word) => name.toLowerCase().includes(word));
}
