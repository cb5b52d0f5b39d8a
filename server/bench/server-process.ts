/**
 * Starts each server under test in its own process and reads its CPU time and peak memory from
 * /proc — the same way for every server, ours included (which has no reporting hook of its own),
 * so the numbers are comparable.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Our server as `npm start` runs it: the bundle `npm run build` writes, with the environment
 * variables and node options of the `start` script (`VAR=value node --option server/dist/main.js`,
 * see docs/decisions/2026-11-25-heap-limit.md). Built once per bench run; `serverOnly` builds the
 * server bundle alone (`build:server`, where the checkout has it), not the console.
 */
export function buildOurServer(
  repositoryRoot: string,
  options: { serverOnly?: boolean } = {},
): {
  entry: string;
  nodeArgs: string[];
  env: Record<string, string>;
} {
  const { scripts } = JSON.parse(readFileSync(path.join(repositoryRoot, 'package.json'), 'utf8')) as {
    scripts: Record<string, string> & { start: string };
  };
  const script = options.serverOnly && scripts['build:server'] ? 'build:server' : 'build';
  execFileSync('npm', ['run', script, '--silent'], { cwd: repositoryRoot, stdio: 'inherit' });
  const { start } = scripts;
  const command = /((?:\b[A-Z_]+=\S+ )*)node ((?:--\S+ )*)server\/dist\/main\.js/.exec(start);
  if (!command) throw new Error(`package.json's start script does not run server/dist/main.js: ${start}`);
  const words = (text: string) => text.trim().split(' ').filter(Boolean);
  return {
    entry: path.join(repositoryRoot, 'server/dist/main.js'),
    nodeArgs: words(command[2]!),
    env: Object.fromEntries(words(command[1]!).map((assignment) => assignment.split('=', 2) as [string, string])),
  };
}

/** What `buildOurServer` gives: the entry, and the node options and environment of `npm start`. */
export type OurServerBuild = ReturnType<typeof buildOurServer>;

/**
 * Our server built by `buildOurServer`, with the demo app and bots, its own fresh data folder, and
 * its upstream at `upstreamBaseUrl` (the fake upstream's `/v1`, or a paced path of it). On the
 * embedded default (SQLite file, in-process cache) whatever the calling shell has set, unless `env`
 * names a database and Redis.
 */
export function startOurServer(
  name: string,
  built: OurServerBuild,
  options: { dataDirectory: string; upstreamBaseUrl: string; nodeOptions?: string[]; env?: Record<string, string> },
): Promise<ServerProcess> {
  mkdirSync(options.dataDirectory, { recursive: true });
  return startServer(
    name,
    built.entry,
    {
      ...built.env,
      HOST: '127.0.0.1',
      DATA_DIR: options.dataDirectory,
      DEMO_MODE: '1',
      LOG_LEVEL: 'warn',
      OPENAI_BASE_URL: options.upstreamBaseUrl,
      OPENAI_API_KEY: 'x',
      DATABASE_URL: '',
      REDIS_URL: '',
      ...options.env,
    },
    [...built.nodeArgs, ...(options.nodeOptions ?? [])],
  );
}

/**
 * The bench's own servers (fake upstream, relays) are TypeScript:
 * `node --import tsx <file>`: one process that loads TypeScript itself. The `tsx` CLI (or npx)
 * would put a wrapper process in front, and /proc of the wrapper says nothing about the server.
 */
const TSX_LOADER = import.meta.resolve('tsx');
const START_TIMEOUT_MS = 30_000;

export type ServerProcess = {
  name: string;
  pid: number;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  stop(): Promise<void>;
};

/**
 * Spawns `entry` and waits for its `listening on http://host:port` line (our server's banner and
 * the bench servers print one), so every server can take a free port with PORT=0.
 */
export async function startServer(
  name: string,
  entry: string,
  env: Record<string, string>,
  nodeOptions: string[] = [],
): Promise<ServerProcess> {
  const loader = entry.endsWith('.ts') ? ['--conditions=astron-source', '--import', TSX_LOADER] : [];
  const child = spawn(process.execPath, [...nodeOptions, ...loader, entry], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not spawn ${entry}`);
  // Errors of a child show up in the bench output, marked with the child's name.
  createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`[${name}] ${line}\n`));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name}: not listening after ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const onExit = (code: number | null) => reject(new Error(`${name}: exited with code ${code} before listening`));
    child.once('exit', onExit);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(line);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(match[1]);
    });
  });
  return { name, pid, url, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * CPU time of every thread of `pid` (JS, GC helpers, libuv pool), ms. Read from each thread's
 * schedstat, which counts nanoseconds; utime+stime in /proc/<pid>/stat count 10 ms ticks, too
 * coarse for a 200-request phase. Falls back to stat where schedstat is missing.
 */
export function readCpuMs(pid: number): number {
  try {
    let nanoseconds = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        nanoseconds += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // The thread ended between listing and reading.
      }
    }
    if (nanoseconds > 0) return nanoseconds / 1e6;
  } catch {
    // No schedstat on this kernel: use stat below.
  }
  return readStatCpuMs(pid);
}

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime (fields 14 and 15 of /proc/<pid>/stat), ms. */
function readStatCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2, the command, may contain spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Resets the peak RSS (VmHWM) of `pid` so the next reading covers only the phase that follows,
 * although one server process serves several phases. False where the kernel does not allow it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak resident set size of `pid` (VmHWM), MB. */
export function readPeakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kilobytes = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return kilobytes / 1024;
}

/**
 * CPU time the whole machine spent busy (all cores, every process), ms: the first line of
 * /proc/stat, without idle and iowait. Lets the bench tell how much of a phase's CPU went to
 * processes that are not part of it.
 */
export function readMachineBusyMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS_PER_SECOND;
}
