import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { findPsql } from "@aa/local-stack";
import { legacyStartupMigration } from "../rehearsal/legacy/migrate.js";
import { storeLegacyHrv } from "../rehearsal/legacy/store.js";
import { startPrivatePostgres, type PrivatePostgres } from "./helpers/postgres.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PSQL = findPsql();

/**
 * roles.sql while the 1.0 pipeline runs: 1.0 connects as `athlete`, owned the tables and migrates at
 * startup. With -v legacy_role it keeps writing and a restarted 1.0 pod starts; retire-legacy-role.sql
 * takes that back.
 */
describe("the 1.0 role through roles.sql, the new migrations and its retirement", { skip: !PSQL }, () => {
  let cluster: PrivatePostgres;
  let url: (role: string) => string;
  const psql = (file: string, vars: string[]) =>
    run(PSQL!, [url("postgres"), "-X", "-q", "-v", "ON_ERROR_STOP=1", ...vars.flatMap((v) => ["-v", v]), "-f", file], {
      cwd: ROOT,
    });
  const reading = (n: number) => ({
    eventId: `legacy-${n}`,
    userId: `legacy-user-${n}`,
    date: "2026-12-01",
    rmssd: 50 + n,
    receivedAt: new Date().toISOString(),
  });
  const asLegacy = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url("athlete") });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };

  before(async () => {
    cluster = await startPrivatePostgres();
    url = (role) => `postgres://${role}@127.0.0.1:${cluster.port}/athlete_normalize`;
    // 1.0's starting state: the role owns the database, its startup migrations created the tables.
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query("CREATE ROLE athlete LOGIN");
    await admin.query("CREATE DATABASE athlete_normalize OWNER athlete");
    await admin.end();
    assert.equal((await legacyStartupMigration(url("athlete"))).length, 4);
    await asLegacy((c) => storeLegacyHrv(c, reading(1)));
  });
  after(() => cluster?.destroy());

  test("roles.sql with legacy_role, then the new migrations as the owner: 1.0 writes and restarts", async () => {
    await psql("deploy/postgres/roles.sql", ["legacy_role=athlete"]);
    await asLegacy((c) => storeLegacyHrv(c, reading(2)));
    await run(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url("athlete_owner") },
    });
    await psql("deploy/postgres/roles.sql", ["legacy_role=athlete"]);
    // A restarted 1.0 pod: its four migrations are a prefix of the six applied; nothing to do, no crash.
    assert.deepEqual(await legacyStartupMigration(url("athlete")), []);
    await asLegacy((c) => storeLegacyHrv(c, reading(3)));
    const rows = await asLegacy((c) => c.query("SELECT event_id, source FROM hrv_data ORDER BY event_id"));
    assert.deepEqual(
      rows.rows.map((r) => `${r.event_id}/${r.source}`),
      ["legacy-1/unscoped", "legacy-2/unscoped", "legacy-3/unscoped"],
    );
  });

  test("retire-legacy-role.sql: 1.0 is refused from then on, and its check says so", async () => {
    const { stdout } = await psql("deploy/postgres/retire-legacy-role.sql", ["legacy_role=athlete"]);
    assert.match(stdout, /\bf\s*\|\s*f\s*\|\s*f\b/);
    await assert.rejects(
      asLegacy((c) => storeLegacyHrv(c, reading(4))),
      { code: "42501" },
    );
    await assert.rejects(legacyStartupMigration(url("athlete")), /no CREATE right/);
    // The new roles are untouched: normalize still writes.
    const normalize = new pg.Client({ connectionString: url("athlete_normalize") });
    await normalize.connect();
    await normalize.query("SELECT count(*) FROM hrv_data");
    await normalize.end();
  });

  test("retire-legacy-role.sql without legacy_role refuses to run", async () => {
    await assert.rejects(psql("deploy/postgres/retire-legacy-role.sql", []), /set -v legacy_role/);
  });
});
