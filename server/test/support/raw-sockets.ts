import { connect, type Socket } from 'node:net';
import type { TestApp } from './test-app.ts';

/** A tRPC WebSocket subscription over a raw socket that does not read until resumed (a slow consumer). */
export function rawTrpcSocket(app: TestApp, path: string, input: unknown): Socket {
  const socket = connect(Number(new URL(app.url).port), '127.0.0.1');
  socket.write(
    'GET /trpc?connectionParams=1 HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n' +
      'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  socket.write(maskedTextFrame({ method: 'connectionParams', data: { apiKey: 'sk-demo' } }));
  socket.write(maskedTextFrame({ id: 1, method: 'subscription', params: { path, input: { json: input } } }));
  socket.pause();
  return socket;
}

/** A client's text frame (clients must mask theirs). */
function maskedTextFrame(message: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(message));
  const mask = Buffer.from([1, 2, 3, 4]);
  const length =
    payload.length < 126
      ? Buffer.from([0x80 | payload.length])
      : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([Buffer.from([0x81]), length, mask, payload.map((byte, index) => byte ^ mask[index % 4]!)]);
}
