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
  run(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
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
      "0006_reading-received-at",
      "0007_oura-link-confirmation",
    ],
  );
});

test("npm run migrate, the deprecated name, still migrates and names npm run db:migrate in one line", async () => {
  const { stdout, stderr } = await run("npm", ["run", "--silent", "migrate"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema },
  });
  assert.match(stdout, /Database schema is up to date/);
  assert.deepEqual(stderr.trim().split("\n"), [
    "npm run migrate is deprecated, use npm run db:migrate (SQL migrations; aa-ops migrate is the stream handoff)",
  ]);
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
    await run(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
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

// 1.0's guarded upsert, exactly as that release's normalize sends it: one row per (user_id, date), `source` never named.
const RELEASE_1_0_HRV_UPSERT = `INSERT INTO hrv_data AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING event_id`;

test("0006_reading-received-at is additive: 1.0's upsert still inserts and updates after it", async () => {
  const old = await createTestSchema();
  try {
    await runner({
      databaseUrl: old.url,
      dir: MIGRATIONS_DIR,
      direction: "up",
      count: 6,
      migrationsTable: "pgmigrations",
      schema: old.schema,
      log: () => undefined,
    });
    const release10 = (eventId: string, rmssd: number, capturedAt: string) =>
      old.pool.query(RELEASE_1_0_HRV_UPSERT, ["u1", "2025-10-02", rmssd, Math.log(rmssd), capturedAt, eventId, null]);
    await release10("A", 50, "2025-10-02T07:00:00Z");
    await run(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: old.url, DATABASE_SCHEMA: old.schema },
    });
    // The previous release keeps writing on the migrated schema: a newer reading updates, an older one does not.
    assert.deepEqual((await release10("B", 60, "2025-10-02T08:00:00Z")).rows, [{ event_id: "B" }]);
    assert.deepEqual((await release10("C", 70, "2025-10-02T06:00:00Z")).rows, []);
    const insert = await old.pool.query(RELEASE_1_0_HRV_UPSERT, [
      "u2",
      "2025-10-02",
      40,
      Math.log(40),
      "2025-10-02T07:00:00Z",
      "D",
      null,
    ]);
    assert.deepEqual(insert.rows, [{ event_id: "D" }]);
    const rows = await old.pool.query("SELECT user_id, event_id, source, received_at FROM hrv_data ORDER BY user_id");
    assert.deepEqual(rows.rows, [
      { user_id: "u1", event_id: "B", source: "unscoped", received_at: null },
      { user_id: "u2", event_id: "D", source: "unscoped", received_at: null },
    ]);
    assert.equal((await old.pool.query("SELECT count(*)::int AS n FROM erased_users")).rows[0].n, 0);
  } finally {
    await old.drop();
  }
});
