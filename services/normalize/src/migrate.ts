import { fileURLToPath } from "node:url";
import { PG_MIGRATE_LOCK_ID, runner } from "node-pg-migrate";
import type pg from "pg";
import type { Logger } from "@aa/service-kit";

/** The numbered SQL migrations shipped with normalize. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

/**
 * Applies pending migrations, each in its own transaction. node-pg-migrate fails fast
 * when another process holds its advisory lock; we first wait for that lock in the same
 * session (advisory locks are re-entrant per session), so two instances starting at
 * once apply each migration exactly once instead of one of them crashing.
 */
export async function migrate(pool: pg.Pool, schema: string, logger: Logger): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query("SELECT pg_advisory_lock($1)", [PG_MIGRATE_LOCK_ID]);
    try {
      const applied = await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        direction: "up",
        migrationsTable: "pgmigrations",
        schema,
        checkOrder: true,
        log: (message) => logger.debug(message),
      });
      const names = applied.map((m) => m.name);
      logger.info(names.length > 0 ? `[normalize] Applied migrations: ${names.join(", ")}` : "[normalize] Database schema is up to date");
      return names;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [PG_MIGRATE_LOCK_ID]);
    }
  } finally {
    client.release();
  }
}
