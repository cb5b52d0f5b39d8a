/** Reads a whole SSE response into its `data:` payloads (and keeps the raw text for byte checks). */
export async function readSse(response: Response): Promise<{ raw: string; data: string[] }> {
  const raw = await response.text();
  return { raw, data: sseData(raw) };
}

/** The `data:` payloads of a whole SSE body. */
export function sseData(raw: string): string[] {
  return raw
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length));
}

export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** Polls until `read` returns something truthy (a run written in a `finally` lands a moment later). */
export async function eventually<Value>(read: () => Promise<Value | undefined>, timeoutMs = 5_000): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export type SseFrame = { id: string | undefined; data: string };

/**
 * Reads SSE frames with data off a response as they come (Astron pings skipped), until it ends or
 * `stopAfter` frames were read (then it leaves: the connection drops). `onFrame` sees each one as it
 * arrives. A connection cut mid-stream rejects, as `fetch` does.
 */
export async function readFrames(
  response: Response,
  stopAfter = Infinity,
  onFrame?: (frame: SseFrame) => Promise<void> | void,
): Promise<SseFrame[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const frames: SseFrame[] = [];
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return frames;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data === undefined || data === '{"ping":"pong"}') continue;
        frames.push({ id, data });
        await onFrame?.({ id, data });
        if (frames.length >= stopAfter) return frames;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
