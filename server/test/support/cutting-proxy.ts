import { connect, createServer, type Socket } from 'node:net';

export type CuttingProxy = {
  url: string;
  /**
   * Cuts the next connection whose answer contains `marker`, before that chunk reaches the client,
   * as a network drop would; resolves once it has.
   */
  cutAt(marker: string): Promise<void>;
  /** Where new connections go from now on (another instance behind the same address). */
  retarget(url: string): void;
  /** Stops listening and cuts every connection: the server looks dead. */
  kill(): Promise<void>;
};

/** A TCP proxy in front of a test server (HTTP, SSE and WebSocket alike) whose connections a test can cut. */
export async function startCuttingProxy(target: string): Promise<CuttingProxy> {
  let upstreamUrl = new URL(target);
  const pairs = new Set<[Socket, Socket]>();
  let pendingCut: { marker: string; done: () => void } | undefined;
  const destroy = (pair: [Socket, Socket]) => {
    pairs.delete(pair);
    for (const socket of pair) socket.destroy();
  };
  const server = createServer((client) => {
    const upstream = connect(Number(upstreamUrl.port), upstreamUrl.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      const cut = pendingCut;
      if (cut && chunk.includes(cut.marker)) {
        pendingCut = undefined;
        destroy(pair);
        cut.done();
        return;
      }
      client.write(chunk);
    });
    for (const socket of pair) {
      socket.on('error', () => destroy(pair));
      socket.on('close', () => destroy(pair));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    cutAt: (marker) => new Promise<void>((resolve) => (pendingCut = { marker, done: resolve })),
    retarget(url) {
      upstreamUrl = new URL(url);
    },
    kill: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const pair of [...pairs]) destroy(pair);
      }),
  };
}
