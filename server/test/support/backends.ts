/**
 * The backends every end-to-end test runs against: the embedded default (SQLite file, in-process
 * cache) always, and MySQL/MariaDB with Redis when DATABASE_URL and REDIS_URL are set. CI must set
 * both, so a CI run never skips the real backends silently.
 */
export type Backend = { name: 'sqlite' | 'mysql'; databaseUrl: string | undefined; redisUrl: string | undefined };

export function testBackends(): Backend[] {
  const { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, CI } = process.env;
  if (CI && (!databaseUrl || !redisUrl)) {
    throw new Error(
      'CI is set but DATABASE_URL or REDIS_URL is not: the suite must also run against MySQL and Redis in CI.',
    );
  }
  return [
    { name: 'sqlite', databaseUrl: undefined, redisUrl: undefined },
    ...(databaseUrl ? [{ name: 'mysql' as const, databaseUrl, redisUrl }] : []),
  ];
}
