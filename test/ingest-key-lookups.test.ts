import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { aaOps, showRun } from "./helpers/cli.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const today = new Date().toISOString().slice(0, 10);
/** Well-formed, so it passes the format check and would cost a database lookup. */
const madeUpKey = () => `aak_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
// Every query of ingest_api_keys takes this long: a loaded database, where a flood of lookups hurts.
const QUERY_SECONDS = 0.5;

describe("API key lookups: made-up keys cannot load the database or hold back a revocation", () => {
  let stack: Stack;
  let valid: string;
  let revocable: { keyId: string; token: string };

  const createKey = async (name: string) => {
    const run = await aaOps(["keys", "create", "--json", "--name", name, "--tenant", "lookups", "--all-users"], {
      DATABASE_URL: stack.db.url,
      DATABASE_SCHEMA: stack.db.schema,
    });
    assert.equal(run.code, 0, showRun(run));
    return JSON.parse(run.stdout) as { keyId: string; token: string };
  };
  /** Sends a reading with `key` as if from `address` (ingest trusts the test's X-Forwarded-For). */
  const send = (key: string, address: string) =>
    postJson(
      `${stack.ingestUrl}/ingest/hrv`,
      { userId: "lookup-user", date: today, rmssd: 50 },
      { authorization: `Bearer ${key}`, "x-forwarded-for": address },
    );
  /** Single-key lookups PostgreSQL has run so far (the reloads read the whole table, without WHERE). */
  const lookups = async () =>
    Number((await stack.db.pool.query("SELECT count(*) AS n FROM key_queries WHERE lookup")).rows[0].n);

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize(); // migrations
    valid = (await createKey("valid")).token;
    revocable = await createKey("revocable");
    // The table behind a view that logs and slows every query: which query ran, and how many.
    const s = stack.db.schema;
    await stack.db.pool.query(`
      ALTER TABLE ${s}.ingest_api_keys RENAME TO ingest_api_keys_stored;
      CREATE TABLE ${s}.key_queries (lookup boolean NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION ${s}.slow_api_keys() RETURNS SETOF ${s}.ingest_api_keys_stored LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ${s}.key_queries (lookup) VALUES (current_query() LIKE '%WHERE key_id%');
        PERFORM pg_sleep(${QUERY_SECONDS});
        RETURN QUERY SELECT * FROM ${s}.ingest_api_keys_stored;
      END $$;
      CREATE VIEW ${s}.ingest_api_keys AS SELECT * FROM ${s}.slow_api_keys();`);
    await stack.startIngest({
      INGEST_AUTH_MODE: "api-key",
      API_KEY_REFRESH_MS: "500",
      TRUST_PROXY: "127.0.0.1",
      AUTH_FAILURES_MAX: "5",
      AUTH_FAILURES_WINDOW_MS: "60000",
    });
  });
  after(async () => stack?.close());

  test("one lookup per unknown key id however many requests carry it at once", async () => {
    const before = await lookups();
    const key = madeUpKey();
    const answers = await Promise.all([1, 2, 3, 4].map(() => send(key, "198.51.100.10")));
    assert.deepEqual(
      answers.map((a) => a.status),
      [401, 401, 401, 401],
    );
    assert.equal((await lookups()) - before, 1, "the four requests shared one query");
  });

  test("past AUTH_FAILURES_MAX failures an address causes no lookup (429, before any query); keys in memory still work", async () => {
    const before = await lookups();
    const answers = await Promise.all(Array.from({ length: 12 }, () => send(madeUpKey(), "198.51.100.20")));
    const statuses = answers.map((a) => a.status).sort();
    // Lookups are counted as failures before they run, so a burst cannot all slip past the check.
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    assert.equal((await lookups()) - before, 5, "only the five admitted lookups reached PostgreSQL");
    const refused = answers.find((a) => a.status === 429)!;
    assert.ok(Number(refused.headers.get("retry-after")) > 0);
    assert.match(
      String(refused.body.error),
      /^Too many failed authentications from this address: new API keys are looked up again in \d+ s \(keys ingest already holds keep working\)$/,
    );
    assert.equal((await send(valid, "198.51.100.20")).status, 202, "a key in memory costs no lookup and is accepted");
    assert.equal((await send(madeUpKey(), "198.51.100.21")).status, 401, "another address has its own budget");
    const metrics = await (await fetch(`${stack.ingestUrl}/metrics`)).text();
    assert.match(metrics, /^ingest_requests_rejected_total\{reason="auth_throttled"\} 7$/m);
  });

  test("a flood of made-up keys from many addresses neither delays a revocation nor queues: lookups past the cap get 503 at once", async () => {
    let flooding = true;
    const statuses = new Map<number, number>();
    let slowest503Ms = 0;
    let sent = 0;
    const worker = async (w: number) => {
      while (flooding) {
        const started = Date.now();
        const { status } = await send(madeUpKey(), `10.${w}.${(sent >> 8) & 255}.${sent++ & 255}`);
        if (status === 503) slowest503Ms = Math.max(slowest503Ms, Date.now() - started);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        await sleep(50 + Math.random() * 100); // pacing the load generator (jittered), not waiting for a condition
      }
    };
    const workers = Array.from({ length: 40 }, (_, w) => worker(w));
    try {
      await waitFor(() => sent >= 60, { what: "the flood under way" });
      assert.equal((await send(valid, "192.0.2.1")).status, 202, "keys in memory keep working during the flood");
      await stack.db.pool.query("UPDATE ingest_api_keys_stored SET revoked_at = now() WHERE key_id = $1", [
        revocable.keyId,
      ]);
      const revokedAt = Date.now();
      await waitFor(async () => (await send(revocable.token, "192.0.2.2")).status === 401, {
        timeoutMs: 8_000,
        intervalMs: 50,
        what: "the revocation to take effect",
      });
      const tookMs = Date.now() - revokedAt;
      // One reload interval (0.5 s) plus one slow reload (0.5 s), with room for a loaded machine.
      assert.ok(tookMs < 3_000, `the revocation took ${tookMs} ms under the flood`);
    } finally {
      flooding = false;
      await Promise.all(workers);
    }
    assert.deepEqual(
      [...statuses.keys()].filter((s) => s !== 401 && s !== 503),
      [],
      `statuses: ${JSON.stringify([...statuses])}`,
    );
    assert.ok((statuses.get(503) ?? 0) > 0, "lookups past the cap were answered 503");
    // At once, not after waiting for a pool connection (the pool gives up after 5 s).
    assert.ok(slowest503Ms < 1_500, `a 503 took ${slowest503Ms} ms: lookups queued`);
  });
});
