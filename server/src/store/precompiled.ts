import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/** Stands in for a value while the query is compiled: unique, and never a value a caller binds. */
const marker = (key: string) => `\u0000precompiled:${key}`;

/**
 * A query of one shape, built and compiled once, then run with new values: for the writes every
 * run makes (its row at the start, its outcome at the end). Kysely builds an immutable node tree
 * and compiles it to SQL on every call; for a 20-column row that was more work than SQLite's own
 * insert, and more garbage than the rest of the run's record
 * (docs/decisions/2026-12-02-one-entry-into-the-core.md). Kysely supports executing a compiled
 * query as such (its "splitting build, compile and execute" recipe).
 *
 * `build` gets an object with the keys of the first `values` and a marker for each value; the
 * compiled parameters are mapped back to those keys, so each call binds its own values in the
 * order the compiler chose. Values must be bound parameters (the query builder's `values`, `set`
 * and `where` values), not SQL. A call whose keys differ compiles that shape once too.
 */
export function precompiled<DB, Values extends Record<string, unknown>>(
  build: (db: Kysely<DB>, values: Values) => Compilable,
): (db: Kysely<DB>, values: Values) => Promise<QueryResult<unknown>> {
  const byShape = new Map<string, { compiled: CompiledQuery; keys: Array<string | undefined> }>();
  return (db, values) => {
    const shape = Object.keys(values).join(',');
    let entry = byShape.get(shape);
    if (!entry) {
      const markers = Object.fromEntries(Object.keys(values).map((key) => [key, marker(key)])) as Values;
      const keyOf = new Map(Object.keys(values).map((key) => [marker(key), key]));
      const compiled = build(db, markers).compile();
      // A parameter that is not a marker is the query's own constant (say, `status = 'running'`).
      entry = { compiled, keys: compiled.parameters.map((parameter) => keyOf.get(parameter as string)) };
      byShape.set(shape, entry);
    }
    const { compiled, keys } = entry;
    const parameters = keys.map((key, index) => (key === undefined ? compiled.parameters[index] : values[key]));
    return db.executeQuery(Object.assign({}, compiled, { parameters }));
  };
}
