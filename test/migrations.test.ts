import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MIGRATIONS_DIR = fileURLToPath(new URL("../services/normalize/migrations", import.meta.url));

let db: TestSchema;
before(async () => {
  db = await createTestSchema();
});
after(async () => db.drop());

const migrate = () =>
  run(process.execPath, ["services/normalize/dist/migrate-cli.js"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema },
  });

test("two migrators starting at once apply each migration exactly once", async () => {
  const results = await Promise.all([migrate(), migrate(), migrate()]);
  const output = results.map((r) => r.stdout).join("\n");
  assert.equal(output.match(/Applied migrations: 0001_create-hrv-data/g)?.length, 1, output);
  assert.equal(output.match(/Database schema is up to date/g)?.length, 2, output);
  const applied = await db.pool.query("SELECT name FROM pgmigrations");
  assert.deepEqual(
    applied.rows.map((r) => r.name),
    [
      "0001_create-hrv-data",
      "0002_create-sleep-data",
      "0003_create-oura-accounts",
      "0004_create-ingest-api-keys",
      "0005_scope-reading-identity",
      "0006_oura-link-binding",
      "0007_oura-link-confirmation",
    ],
  );
});

test("hrv_data has the runbook's snake_case columns", async () => {
  const columns = await db.pool.query(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'hrv_data'",
    [db.schema],
  );
  const names = columns.rows.map((r) => r.column_name);
  for (const name of ["user_id", "date", "rmssd", "ln_rmssd", "captured_at", "event_id", "created_at", "updated_at"])
    assert.ok(names.includes(name), name);
  await assert.rejects(
    db.pool.query(
      "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id) VALUES ('u', '2025-10-02', 0, 0, now(), 'e')",
    ),
    /check/,
  );
});

test("sleep_data has snake_case columns, keeps fractional minutes and checks its ranges", async () => {
  const columns = await db.pool.query(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'sleep_data'",
    [db.schema],
  );
  const names = columns.rows.map((r) => r.column_name);
  for (const name of [
    "user_id",
    "date",
    "duration_minutes",
    "quality_score",
    "captured_at",
    "event_id",
    "raw",
    "created_at",
    "updated_at",
  ])
    assert.ok(names.includes(name), name);
  const insert = (minutes: number, score: number | null, eventId: string) =>
    db.pool.query(
      "INSERT INTO sleep_data (user_id, date, duration_minutes, quality_score, captured_at, event_id) VALUES ($1, '2025-10-02', $2, $3, now(), $4) RETURNING duration_minutes",
      [eventId, minutes, score, eventId],
    );
  assert.equal((await insert(437.5, null, "s1")).rows[0].duration_minutes, 437.5);
  await assert.rejects(insert(1441, null, "s2"), /check/);
  await assert.rejects(insert(400, 101, "s3"), /check/);
});

test("0005 keeps existing rows as 'unscoped' readings and scopes uniqueness to (user_id, source, event_id)", async () => {
  const old = await createTestSchema();
  try {
    // The schema as the previous release left it: migrations up to 0004, a row written then.
    await runner({
      databaseUrl: old.url,
      dir: MIGRATIONS_DIR,
      direction: "up",
      count: 4,
      migrationsTable: "pgmigrations",
      schema: old.schema,
      log: () => undefined,
    });
    await old.pool.query(
      "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id) VALUES ('u1', '2025-10-02', 50, ln(50), now(), 'X')",
    );
    await run(process.execPath, ["services/normalize/dist/migrate-cli.js"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: old.url, DATABASE_SCHEMA: old.schema },
    });
    assert.deepEqual((await old.pool.query("SELECT user_id, event_id, source FROM hrv_data")).rows, [
      { user_id: "u1", event_id: "X", source: "unscoped" },
    ]);
    // The same event id for another user, or from another source, is another reading now.
    await old.pool.query(
      "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id, source) VALUES ('u2', '2025-10-02', 50, ln(50), now(), 'X', 'tenant:b')",
    );
    await old.pool.query(
      "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id, source) VALUES ('u1', '2025-10-03', 50, ln(50), now(), 'X', 'tenant:b')",
    );
    await old.pool.query(
      "INSERT INTO sleep_data (user_id, date, duration_minutes, captured_at, event_id) VALUES ('u1', '2025-10-02', 400, now(), 'X')",
    );
    // The same reading twice (user, source, event id) still cannot be two rows.
    await assert.rejects(
      old.pool.query(
        "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id) VALUES ('u1', '2025-10-04', 50, ln(50), now(), 'X')",
      ),
      /hrv_data_user_id_source_event_id_key/,
    );
  } finally {
    await old.drop();
  }
});
