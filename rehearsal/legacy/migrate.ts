import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PG_MIGRATE_LOCK_ID, runner } from "node-pg-migrate";
import pg from "pg";

const MIGRATIONS_DIR = fileURLToPath(new URL("../../services/normalize/migrations", import.meta.url));

/**
 * The migrations 1.0 shipped: 0001-0004 of today's directory, byte for byte the same files as at the
 * release before scoped reading identity (`git diff 4270349^ -- services/normalize/migrations` shows none).
 */
const LEGACY_MIGRATIONS = /^000[1-4]_.*\.sql$/;

/**
 * What a (re)started 1.0 normalize does before it consumes (RUN_MIGRATIONS=true, its default): in one
 * session, the advisory lock, the schema's CREATE right checked up front, then node-pg-migrate with
 * checkOrder over its four migrations. Returns the names it applied; throws what would crash-loop the pod.
 */
export async function legacyStartupMigration(databaseUrl: string, schema = "public"): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "aa-legacy-migrations-"));
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    for (const file of (await readdir(MIGRATIONS_DIR)).filter((f) => LEGACY_MIGRATIONS.test(f)))
      await copyFile(join(MIGRATIONS_DIR, file), join(dir, file));
    await client.connect();
    await client.query("SELECT pg_advisory_lock($1)", [PG_MIGRATE_LOCK_ID]);
    const { rows } = await client.query<{ can_create: boolean }>(
      "SELECT has_schema_privilege(oid, 'CREATE') AS can_create FROM pg_namespace WHERE nspname = $1",
      [schema],
    );
    if (rows[0] !== undefined && !rows[0].can_create)
      throw new Error(`This database role may not migrate schema "${schema}" (no CREATE right on it)`);
    const applied = await runner({
      dbClient: client as unknown as pg.ClientBase,
      dir,
      direction: "up",
      migrationsTable: "pgmigrations",
      schema,
      checkOrder: true,
      log: () => {},
    });
    return applied.map((m) => m.name);
  } finally {
    await client.end().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
