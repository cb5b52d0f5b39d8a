import { randomFillSync } from 'node:crypto';

let lastTime = 0;
let counter = 0;
// Random bytes are drawn in blocks: one syscall per few hundred ids instead of one per id.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += bytes;
  return pool.toString('hex', poolOffset - bytes, poolOffset);
}

/** Time-ordered, unguessable ids (`run_…`, `msg_…`): sorting by id sorts by creation. */
export function createId(prefix: string): string {
  const now = Date.now();
  counter = now === lastTime ? counter + 1 : 0;
  lastTime = now;
  return `${prefix}_${now.toString(36).padStart(9, '0')}${counter.toString(36).padStart(3, '0')}${randomHex(6)}`;
}
