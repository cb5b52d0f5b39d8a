/** Which bound a stream passed: its own (STREAM_MAX_BUFFERED_BYTES) or the process's total. */
export type UnsentLimit = 'stream' | 'total';

/** A stream cut as a slow consumer, as it is recorded (a metric and a log line, wired in app.ts). */
export type UnsentCut = { transport: string; limit: UnsentLimit; unsentBytes: number };

/** One registered writer, as it uses the budget on every write. */
export type UnsentStream = {
  /**
   * Before a write: true to write now. False when earlier writes left more than the per-stream
   * bound unsent: the writer holds what it has (`heldBytes`, counting what it would write now) and
   * is resumed once its reader has caught up; or the stream was cut (held past the bound too, or
   * for longer than the patience, or already cut).
   */
  mayWrite: (heldBytes?: number) => boolean;
  /** After a write: counts what is unsent now; past the total, the largest streams are cut first. */
  wrote: () => void;
  /** The stream ended: it no longer counts. */
  release: () => void;
};

type Entry = {
  transport: string;
  unsent: () => number;
  cut: (limit: UnsentLimit, reason: string) => void;
  resume: () => void;
  /** Its unsent bytes at its last write (or the last exact count). */
  counted: number;
  open: boolean;
  /** While it holds frames: the next look at whether its reader caught up. */
  holding: NodeJS.Timeout | undefined;
};

/** How often a holding stream is looked at again, ms. */
const HOLD_CHECK_MS = 20;

/**
 * The one owner of the bytes streams hold unsent for readers that read slower than we write.
 * Every streaming writer registers (REST and tRPC SSE: transport/http/sse-writer.ts; tRPC and plain
 * WebSocket: transport/ws/socket-io.ts) with how to measure what it holds and how to cut it.
 *
 * Two bounds: `perStreamBytes` per stream and `totalBytes` for all of them together.
 *
 * The per-stream bound is checked before each write, on what earlier writes left unsent, so a
 * reader that reads gets even one frame larger than the bound. A stream over it does not write: it
 * holds its next frames and is resumed as soon as its reader is back under the bound. It is cut
 * when what it holds passes the bound too (a reader that has stopped, on a stream that goes on) or
 * when it has held for `patienceMs` (a reader that has stopped, on a stream that trickles). So a
 * stream keeps at most about twice the bound, and a reader that is only slower than one large
 * frame's burst loses nothing.
 *
 * The hot path is one measure and one addition per write: the running total is each stream's
 * unsent bytes at its last write, so a stream that drained since counts too much until its next
 * write. Only when that total passes the budget are all streams measured again
 * (the total is then exact); if it is still over, the streams holding most are cut, largest first,
 * until it fits. A cut is the per-stream bound's own coded close, for either bound.
 */
export function createUnsentBudget(options: {
  perStreamBytes: number;
  totalBytes: number;
  /** How long a stream over its bound may hold frames for its reader to catch up, ms. Default 10 s. */
  patienceMs?: number;
  onCut?: (cut: UnsentCut) => void;
}) {
  const { perStreamBytes, totalBytes, patienceMs = 10_000 } = options;
  const entries = new Set<Entry>();
  let counted = 0;

  function remove(entry: Entry) {
    if (!entry.open) return;
    entry.open = false;
    clearTimeout(entry.holding);
    entries.delete(entry);
    counted -= entry.counted;
    entry.counted = 0;
  }

  function cut(entry: Entry, limit: UnsentLimit, unsentBytes: number) {
    remove(entry);
    options.onCut?.({ transport: entry.transport, limit, unsentBytes });
    entry.cut(
      limit,
      limit === 'stream'
        ? `slow consumer: more than ${perStreamBytes} bytes unsent`
        : `slow consumer: ${unsentBytes} bytes unsent, server total over ${totalBytes}`,
    );
  }

  /** Looks again every HOLD_CHECK_MS: back under the bound, the writer resumes; past the patience, it is cut. */
  function hold(entry: Entry) {
    if (entry.holding !== undefined) return;
    const until = Date.now() + patienceMs;
    const look = () => {
      entry.holding = undefined;
      if (!entry.open) return;
      const unsentBytes = entry.unsent();
      if (unsentBytes <= perStreamBytes) entry.resume();
      else if (Date.now() >= until) cut(entry, 'stream', unsentBytes);
      else entry.holding = setTimeout(look, HOLD_CHECK_MS);
    };
    entry.holding = setTimeout(look, HOLD_CHECK_MS);
  }

  function enforce() {
    let exact = 0;
    for (const entry of entries) {
      entry.counted = entry.unsent();
      exact += entry.counted;
    }
    counted = exact;
    if (counted <= totalBytes) return;
    for (const entry of [...entries].sort((a, b) => b.counted - a.counted)) {
      if (counted <= totalBytes) break;
      cut(entry, 'total', entry.counted);
    }
  }

  return {
    /**
     * `unsent` measures what the stream holds unsent (a socket's `bufferedAmount`, a response's
     * `writableLength`); `cut` closes it as a slow consumer, with `reason` for a close frame;
     * `resume` writes what the stream held, once its reader is back under the bound.
     */
    register(
      transport: string,
      unsent: () => number,
      cutStream: (limit: UnsentLimit, reason: string) => void,
      resume: () => void,
    ): UnsentStream {
      const entry: Entry = { transport, unsent, cut: cutStream, resume, counted: 0, open: true, holding: undefined };
      entries.add(entry);
      return {
        mayWrite(heldBytes = 0) {
          if (!entry.open) return false;
          const unsentBytes = unsent();
          if (unsentBytes <= perStreamBytes) return true;
          if (heldBytes > perStreamBytes) cut(entry, 'stream', unsentBytes + heldBytes);
          else hold(entry);
          return false;
        },
        wrote() {
          if (!entry.open) return;
          const now = unsent();
          counted += now - entry.counted;
          entry.counted = now;
          if (counted > totalBytes) enforce();
        },
        release: () => remove(entry),
      };
    },
    /** Unsent bytes as counted now (each open stream's at its last write). */
    countedBytes: () => counted,
    /** Streams registered and not ended. */
    streams: () => entries.size,
  };
}
export type UnsentBudget = ReturnType<typeof createUnsentBudget>;
