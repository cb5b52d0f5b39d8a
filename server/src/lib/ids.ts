import { randomBytes } from 'node:crypto';

let lastTime = 0;
let counter = 0;

/** Time-ordered, unguessable ids (`run_…`, `msg_…`): sorting by id sorts by creation. */
export function createId(prefix: string): string {
  const now = Date.now();
  counter = now === lastTime ? counter + 1 : 0;
  lastTime = now;
  return `${prefix}_${now.toString(36).padStart(9, '0')}${counter.toString(36).padStart(3, '0')}${randomBytes(6).toString('hex')}`;
}
