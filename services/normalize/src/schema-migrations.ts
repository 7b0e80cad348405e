import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { PG_MIGRATE_LOCK_ID, runner } from "node-pg-migrate";
import type pg from "pg";
import type { Logger } from "@aa/service-kit";

/** The numbered SQL migrations shipped with normalize. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

const INSUFFICIENT_PRIVILEGE = "42501";

/** The schema lacks migrations this code needs, and this process does not apply them (RUN_MIGRATIONS=false). */
export class SchemaNotMigratedError extends Error {
  readonly code = "AA_ERR_SCHEMA_NOT_MIGRATED";
  constructor(schema: string, pending: string[]) {
    super(
      `Database schema "${schema}" is not migrated: ${pending.join(", ")} not applied. ` +
        `Run \`npm run migrate\` (as the schema's owner role) before starting normalize with RUN_MIGRATIONS=false`,
    );
    this.name = "SchemaNotMigratedError";
  }
}

const codeOf = (error: unknown): unknown => (error as { code?: unknown }).code;

const deniedMigration = (schema: string, reason: string, cause?: unknown): Error =>
  new Error(
    `This database role may not migrate schema "${schema}" (${reason}): ` +
      `run \`npm run migrate\` as the owner role and start normalize with RUN_MIGRATIONS=false (docs/security.md)`,
    { cause },
  );

/** A role without DDL rights tried to migrate: say which setting to change instead of the bare SQL error. */
function explainDenied(error: unknown, schema: string): unknown {
  return codeOf(error) === INSUFFICIENT_PRIVILEGE
    ? deniedMigration(schema, error instanceof Error ? error.message : String(error), error)
    : error;
}

// CREATE SCHEMA needs CREATE on the database even with IF NOT EXISTS: only issue it when the
// schema is missing, so an owner role that was given the schema can migrate without that right.
// An existing schema is checked up front: node-pg-migrate reports a denied DDL without its SQLSTATE.
async function prepareSchema(client: pg.PoolClient, schema: string): Promise<void> {
  const { rows } = await client.query<{ can_create: boolean }>(
    "SELECT has_schema_privilege(oid, 'CREATE') AS can_create FROM pg_namespace WHERE nspname = $1",
    [schema],
  );
  if (rows[0] === undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  else if (!rows[0].can_create) throw deniedMigration(schema, "no CREATE right on it");
}

/**
 * Applies pending migrations, each in its own transaction. node-pg-migrate fails fast
 * when another process holds its advisory lock; we first wait for that lock in the same
 * session (advisory locks are re-entrant per session), so two instances starting at
 * once apply each migration exactly once instead of one of them crashing.
 */
export async function migrateSchema(pool: pg.Pool, schema: string, logger: Logger): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PG_MIGRATE_LOCK_ID]);
    try {
      await prepareSchema(client, schema);
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
      logger.info(
        names.length > 0
          ? `[normalize] Applied migrations: ${names.join(", ")}`
          : "[normalize] Database schema is up to date",
      );
      return names;
    } catch (error) {
      throw explainDenied(error, schema);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [PG_MIGRATE_LOCK_ID]);
    }
  } finally {
    client.release();
  }
}

/** The shipped migrations under the names node-pg-migrate records (the file name without `.sql`). */
async function shippedMigrations(): Promise<string[]> {
  const files = await readdir(MIGRATIONS_DIR);
  return files
    .filter((file) => file.endsWith(".sql"))
    .map((file) => file.slice(0, -".sql".length))
    .sort();
}

// Missing schema (3F000) or migrations table (42P01): nothing was ever applied.
const NEVER_MIGRATED = new Set(["3F000", "42P01"]);

async function appliedMigrations(pool: pg.Pool, schema: string): Promise<Set<string>> {
  try {
    const { rows } = await pool.query<{ name: string }>(`SELECT name FROM "${schema}".pgmigrations`);
    return new Set(rows.map((row) => row.name));
  } catch (error) {
    if (NEVER_MIGRATED.has(String(codeOf(error)))) return new Set();
    if (codeOf(error) !== INSUFFICIENT_PRIVILEGE) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Cannot check that schema "${schema}" is migrated (${message}): ` +
        `grant this role SELECT on pgmigrations (deploy/postgres/roles.sql)`,
      { cause: error },
    );
  }
}

/** For RUN_MIGRATIONS=false: throws SchemaNotMigratedError unless every shipped migration is applied. */
export async function assertMigrated(pool: pg.Pool, schema: string): Promise<void> {
  const [shipped, applied] = await Promise.all([shippedMigrations(), appliedMigrations(pool, schema)]);
  const pending = shipped.filter((name) => !applied.has(name));
  if (pending.length > 0) throw new SchemaNotMigratedError(schema, pending);
}
