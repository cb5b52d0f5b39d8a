/**
 * `npm run bench:compare -- <revision>`: our server at `<revision>` (a commit, branch or tag)
 * against this checkout, in pairs. Prints one markdown table: server CPU ms per request of each
 * at c=64 and c=512, and the change.
 *
 * Why pairs, at once: on a shared two-core machine the same build's CPU per request moves by a
 * third from one `npm run bench` to the next, and by a fifth between two phases a few seconds
 * apart, because what else the host runs changes how fast a core is. Here both servers run side
 * by side and each round loads both at the same time, each with its own clients at the phase's
 * concurrency; the change is the median of the rounds' ratios. A drift of the machine lands on
 * both sides alike (measured on one build against itself: rounds within about ±15 %, where
 * measuring the two one after the other gave ±30 %). Both servers share the two cores, so their
 * CPU per request is higher than in `npm run bench`: the change is what to read, not the level.
 *
 * The baseline is checked out in a temporary git worktree with this checkout's node_modules and
 * built the way it builds itself (`build:server`, else `build`). `BENCH_ONLY=openai,astron` keeps
 * some targets; `BENCH_ROUNDS` (default 9) sets the number of rounds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drive } from './load-clients.ts';
import { envWords, measurePhase, nameMatches, OUR_TARGETS, type PhasePlan, type Row } from './measure.ts';
import { fixed, markdownTable, percentile } from './report.ts';
import { buildOurServer, startOurServer, startServer, type ServerProcess } from './server-process.ts';

const PLANS: PhasePlan[] = [
  { concurrency: 64, warmup: 128, requests: 640 },
  { concurrency: 512, warmup: 512, requests: 1536 },
];
const TARGET_WARMUP = { concurrency: 16, requests: 600 };
const PHASE_DEADLINE_MS = 45_000;
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const onlyWords = envWords(process.env.BENCH_ONLY);

const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 0.5);
const change = (ratio: number) => `${ratio >= 1 ? '+' : ''}${fixed((ratio - 1) * 100, 0)} %`;

/** `revision` checked out beside this checkout, sharing its node_modules; removed by `remove`. */
function checkOut(repositoryRoot: string, revision: string) {
  const directory = path.join(mkdtempSync(path.join(tmpdir(), 'astron-compare-')), 'baseline');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repositoryRoot, stdio: 'pipe' }).toString().trim();
  const commit = git('rev-parse', '--short', `${revision}^{commit}`);
  git('worktree', 'add', '--detach', directory, commit);
  symlinkSync(path.join(repositoryRoot, 'node_modules'), path.join(directory, 'node_modules'));
  return {
    directory,
    commit,
    remove() {
      git('worktree', 'remove', '--force', directory);
      rmSync(path.dirname(directory), { recursive: true, force: true });
    },
  };
}

type Pair = { baseline: Row; current: Row };

async function main() {
  const revision = process.argv[2] ?? process.env.BENCH_BASELINE;
  if (!revision) {
    console.error('Usage: npm run bench:compare -- <revision>   (a commit, branch or tag to compare this checkout with)');
    process.exit(2);
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repositoryRoot = path.resolve(here, '../..');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repositoryRoot }).toString().trim();
  // What is measured is the working tree: its changes, if any, are part of the build.
  const head = git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '+changes' : '');
  const baselineCheckout = checkOut(repositoryRoot, revision);
  const dataDirectory = mkdtempSync(path.join(tmpdir(), 'astron-compare-data-'));
  let upstream: ServerProcess | undefined;
  try {
    const builds = {
      baseline: buildOurServer(baselineCheckout.directory, { serverOnly: true }),
      current: buildOurServer(repositoryRoot, { serverOnly: true }),
    };
    upstream = await startServer('fake-upstream', path.join(here, 'fake-upstream.ts'), {});
    const lines: string[][] = [];
    let started = 0;
    for (const target of OUR_TARGETS.filter((candidate) => nameMatches(onlyWords, candidate.name))) {
      const servers: Record<keyof typeof builds, ServerProcess | undefined> = { baseline: undefined, current: undefined };
      try {
        for (const side of ['baseline', 'current'] as const) {
          const server = await startOurServer(`astron-chat ${side} (${target.name})`, builds[side], {
            dataDirectory: path.join(dataDirectory, String(++started)),
            upstreamBaseUrl: `${upstream.url}/v1`,
          });
          servers[side] = server;
          const warmup = await target.open(server.url)(TARGET_WARMUP.concurrency);
          await drive(warmup, TARGET_WARMUP.concurrency, TARGET_WARMUP.requests, PHASE_DEADLINE_MS).finally(() =>
            warmup.close(),
          );
        }
        const measureOn = (side: keyof typeof builds, plan: PhasePlan) => {
          const server = servers[side]!;
          return measurePhase(target.name, server, upstream!, target.open(server.url), plan, PHASE_DEADLINE_MS);
        };
        const pairs = new Map<number, Pair[]>(PLANS.map((plan) => [plan.concurrency, []]));
        for (let round = 0; round < rounds; round += 1) {
          for (const plan of PLANS) {
            // Both at once, each by its own clients: whatever the machine does meanwhile, it does to both.
            const [baseline, current] = await Promise.all([measureOn('baseline', plan), measureOn('current', plan)]);
            pairs.get(plan.concurrency)!.push({ baseline, current });
          }
          process.stderr.write(`  ${target.name}: round ${round + 1} of ${rounds}\n`);
        }
        for (const [concurrency, measured] of pairs) {
          const ratios = measured.map((pair) => pair.current.cpuMsPerRequest / pair.baseline.cpuMsPerRequest);
          const errors = measured.reduce((sum, pair) => sum + pair.baseline.errors + pair.current.errors, 0);
          lines.push([
            target.name,
            String(concurrency),
            fixed(median(measured.map((pair) => pair.baseline.cpuMsPerRequest)), 3),
            fixed(median(measured.map((pair) => pair.current.cpuMsPerRequest)), 3),
            change(median(ratios)),
            `${change(Math.min(...ratios))} … ${change(Math.max(...ratios))}`,
            String(errors),
          ]);
        }
      } finally {
        await Promise.all(Object.values(servers).map((server) => server?.stop() ?? Promise.resolve()));
      }
    }
    console.log(
      markdownTable(
        [
          'target',
          'concurrency',
          `${baselineCheckout.commit} CPU ms/request`,
          `${head} CPU ms/request`,
          'change (median of rounds)',
          'rounds, lowest … highest',
          'errors',
        ],
        lines,
        1,
      ),
    );
    console.log('');
    console.log(
      `Notes: ${rounds} rounds; each round measures c=64 (${PLANS[0]!.requests} requests after ${PLANS[0]!.warmup} warm-up) and ` +
        `c=512 (${PLANS[1]!.requests} after ${PLANS[1]!.warmup}) on both servers at the same time, each with its own clients. ` +
        `CPU per request as in npm run bench (every thread of the server process), higher than there: the two servers share ` +
        `the machine. The medians of each side are shown; the change is the ` +
        `median of the rounds' ratios, ${head} / ${baselineCheckout.commit}.` +
        (head.endsWith('+changes') ? ` ${head} is this checkout with its uncommitted changes.` : ''),
    );
  } finally {
    await upstream?.stop();
    rmSync(dataDirectory, { recursive: true, force: true });
    baselineCheckout.remove();
  }
}

await main();
