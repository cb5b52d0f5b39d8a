import superjson from 'superjson';

/**
 * superjson on the wire, as `@astron-chat/client` expects, with a fast path for what the server sends
 * most: events and rows that are plain JSON already. For those superjson's answer is `{ json: value }`
 * with no `meta`, and it would still walk the value building maps of paths to find that out — about
 * a fifth of everything a tRPC stream allocated per event. Anything else (a Date, a Map, `undefined`
 * in an object, NaN, -0, a class instance) goes through superjson as before.
 */
export const transformer = {
  serialize(value: unknown): unknown {
    return isPlainJson(value, 0) ? { json: value } : superjson.serialize(value);
  },
  deserialize(value: unknown): unknown {
    return superjson.deserialize(value as Parameters<typeof superjson.deserialize>[0]);
  },
};

const MAX_DEPTH = 32;

function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (depth > MAX_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index += 1) {
          if (!(index in value) || !isPlainJson(value[index], depth + 1)) return false;
        }
        return true;
      }
      const prototype: unknown = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return false;
      // for-in, not Object.keys: no array per object. With the prototype checked above, for-in sees
      // exactly the own enumerable keys.
      for (const key in value) {
        if (key === '__proto__' || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
