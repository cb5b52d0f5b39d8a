import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';

/**
 * better-sqlite3 compiles SQL on every `prepare`; kysely calls it for every query. The same few
 * query shapes repeat on every request, so compiled statements are kept (at most `maxStatements`,
 * oldest dropped). Safe because kysely runs each statement to completion synchronously.
 */
export function withStatementCache(sqlite: SqliteDatabase, maxStatements = 500): SqliteDatabase {
  const statements = new Map<string, Statement>();
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') {
        const value = Reflect.get(target, property, receiver) as unknown;
        // Native methods must run on the real database object, not on this proxy.
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      }
      return (source: string) => {
        let statement = statements.get(source);
        if (!statement) {
          statement = target.prepare(source);
          statements.set(source, statement);
          if (statements.size > maxStatements) statements.delete(statements.keys().next().value as string);
        }
        return statement;
      };
    },
  });
}
