/**
 * The storage backends every end-to-end test runs against: the embedded SQLite file always, and
 * MySQL/MariaDB when DATABASE_URL is set. CI must set it, so a CI run never skips MySQL silently.
 */
export type Backend = { name: 'sqlite' | 'mysql'; databaseUrl: string | undefined };

export function testBackends(): Backend[] {
  const databaseUrl = process.env.DATABASE_URL;
  if (process.env.CI && !databaseUrl) {
    throw new Error('CI is set but DATABASE_URL is not: the suite must also run against MySQL in CI.');
  }
  return [
    { name: 'sqlite', databaseUrl: undefined },
    ...(databaseUrl ? [{ name: 'mysql' as const, databaseUrl }] : []),
  ];
}
