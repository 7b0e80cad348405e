import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { authorizeUrl, createPkce, createState, exchangeCode, seal } from "@aa/oura";
import { aaOps, showRun } from "./helpers/cli.js";
import { dlqSeqs, seedDlq } from "./helpers/dlq.js";
import { startFakeOura, type FakeOura } from "./helpers/fake-oura.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const USER = "erase-me";
const OTHER = "keep-me";
const OURA_USER = "oura-erase-me";
const LOG_HASH_KEY = "erase-test-log-hash-key-0123456789abcdef";
const ENCRYPTION_KEY = randomBytes(32);
const HOUR_MS = 3_600_000;
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

interface EraseReport {
  dryRun: boolean;
  rows: Record<string, number>;
  ouraLinked: boolean;
  ouraRevoked: boolean | null;
  dlq: { deadLetters: number; purged: number };
  tombstoneUntil: string;
  remaining: { stream: string; newest: string; agesOutAt: string | null }[];
  audit: { user: string; rows: Record<string, number> } | null;
}

/** Tokens for `ouraUserId` from the fake's own OAuth flow, as a link would have stored them. */
async function grantAtOura(fake: FakeOura, ouraUserId: string) {
  const pkce = createPkce();
  const redirectUri = "http://127.0.0.1:9/auth/oura/callback";
  fake.nextOuraUserId = ouraUserId;
  const url = authorizeUrl({
    authorizeUrl: `${fake.url}/oauth/authorize`,
    clientId: fake.clientId,
    redirectUri,
    scope: "daily",
    state: createState(),
    codeChallenge: pkce.challenge,
  });
  const back = new URL((await fetch(url, { redirect: "manual" })).headers.get("location") ?? "");
  return exchangeCode(
    { baseUrl: fake.url },
    {
      tokenUrl: `${fake.url}/oauth/token`,
      credentials: { clientId: fake.clientId, clientSecret: fake.clientSecret },
      code: back.searchParams.get("code") ?? "",
      redirectUri,
      codeVerifier: pkce.verifier,
    },
  );
}

describe("aa-ops users erase", () => {
  let stack: Stack;
  let fake: FakeOura;
  let accessToken: string;
  const erase = (...extra: string[]) =>
    aaOps(["users", "erase", "--user", USER, "--json", "--nats-url", stack.nats.url, ...extra], {
      DATABASE_URL: stack.db.url,
      DATABASE_SCHEMA: stack.db.schema,
      LOG_HASH_KEY,
      OURA_TOKEN_ENCRYPTION_KEY: ENCRYPTION_KEY.toString("base64"),
      OURA_REVOKE_URL: `${fake.url}/oauth/revoke`,
    });
  const count = async (table: string, userId: string) =>
    (await stack.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE user_id = $1`, [userId]))
      .rows[0]!.n;
  const post = (kind: "hrv" | "sleep", body: Record<string, unknown>) =>
    postJson(`${stack.ingestUrl}/ingest/${kind}`, body).then((r) => assert.equal(r.status, 202, JSON.stringify(r)));
  const drained = (durable: string) =>
    waitFor(
      async () => {
        const info = await stack.jsm.consumers.info("AA_CORE_HOT", durable);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { what: `${durable} drained` },
    );

  before(async () => {
    fake = await startFakeOura();
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest({ INGEST_AUTH_MODE: "none" });
    await post("hrv", { userId: USER, date: daysAgo(1), rmssd: 50, eventId: "e-hrv-1" });
    await post("sleep", { userId: USER, date: daysAgo(1), durationMinutes: 400, eventId: "e-sleep-1" });
    await post("hrv", { userId: OTHER, date: daysAgo(1), rmssd: 60, eventId: "k-hrv-1" });
    await waitFor(async () => (await count("hrv_data", USER)) + (await count("sleep_data", USER)) === 2, {
      what: "the user's rows",
    });
    // A linked Oura account (tokens sealed as normalize seals them) and a spent link token.
    const tokens = await grantAtOura(fake, OURA_USER);
    accessToken = tokens.accessToken;
    await stack.db.pool.query(
      `INSERT INTO oura_accounts (user_id, oura_user_id, access_token, refresh_token, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [
        USER,
        OURA_USER,
        seal(ENCRYPTION_KEY, tokens.accessToken, USER),
        seal(ENCRYPTION_KEY, tokens.refreshToken, USER),
        tokens.expiresAt,
      ],
    );
    await stack.db.pool.query(
      "INSERT INTO oura_link_tokens_used (token_id, user_id, expires_at) VALUES ('jti-1', $1, now() + interval '1 hour')",
      [USER],
    );
    // A link the app has not confirmed yet holds the user's sealed Oura tokens too.
    await stack.db.pool.query(
      `INSERT INTO oura_link_pending (completion_hash, user_id, oura_user_id, access_token, refresh_token,
         token_expires_at, expires_at) VALUES ('held-1', $1, $2, $3, $4, $5, now() + interval '10 minutes')`,
      [USER, OURA_USER, seal(ENCRYPTION_KEY, "held-a", USER), seal(ENCRYPTION_KEY, "held-r", USER), tokens.expiresAt],
    );
    for (const [userId, msgId] of [
      [USER, "dead-1"],
      [OTHER, "dead-2"],
    ] as const)
      await seedDlq(stack.js, {
        reason: "schema_invalid",
        originalSubject: HRV,
        msgId,
        payload: { userId, date: daysAgo(2), rmssd: 0, eventId: msgId },
      });
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
  });

  test("a dry run reports what it would erase and what stays, and changes nothing", async () => {
    const run = await erase();
    assert.equal(run.code, 0, showRun(run));
    const report = JSON.parse(run.stdout) as EraseReport;
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.rows, {
      hrv_data: 1,
      sleep_data: 1,
      oura_accounts: 1,
      oura_link_states: 0,
      oura_link_tokens_used: 1,
      oura_link_pending: 1,
    });
    assert.equal(report.ouraLinked, true);
    assert.equal(report.dlq.deadLetters, 1);
    assert.deepEqual(
      report.remaining.map((r) => [r.stream, Date.parse(r.agesOutAt!) - Date.parse(r.newest)]),
      [["AA_CORE_HOT", 48 * HOUR_MS]],
    );
    assert.equal(report.audit, null);
    assert.equal(await count("hrv_data", USER), 1);
    assert.equal(await count("oura_accounts", USER), 1);
    assert.equal((await dlqSeqs(stack.jsm)).length, 2);
    assert.deepEqual(fake.revoked, []);
  });

  test("--yes erases rows, revokes at Oura, purges the DLQ; a reading in flight does not bring rows back", async () => {
    // A reading accepted while normalize is down: it waits in the stream through the erasure.
    await stack.normalize!.stop();
    await post("hrv", { userId: USER, date: daysAgo(3), rmssd: 52, eventId: "e-hrv-in-flight" });
    await post("sleep", { userId: USER, date: daysAgo(3), durationMinutes: 380, eventId: "e-sleep-in-flight" });

    const run = await erase("--yes");
    assert.equal(run.code, 0, showRun(run));
    const report = JSON.parse(run.stdout) as EraseReport;
    assert.equal(report.dryRun, false);
    assert.deepEqual(report.rows, {
      hrv_data: 1,
      sleep_data: 1,
      oura_accounts: 1,
      oura_link_states: 0,
      oura_link_tokens_used: 1,
      oura_link_pending: 1,
    });
    assert.equal(report.ouraRevoked, true);
    assert.deepEqual(fake.revoked, [accessToken]);
    assert.equal(report.dlq.purged, 1);
    assert.equal((await dlqSeqs(stack.jsm)).length, 1, "the other user's dead letter stays");
    for (const table of ["hrv_data", "sleep_data", "oura_accounts", "oura_link_tokens_used", "oura_link_pending"])
      assert.equal(await count(table, USER), 0, table);
    assert.equal(await count("hrv_data", OTHER), 1);
    // The audit line names the user only by its keyed hash, as the logs do.
    const expectedHash = createHmac("sha256", LOG_HASH_KEY).update(USER).digest("hex").slice(0, 16);
    assert.equal(report.audit?.user, expectedHash);
    assert.ok(!JSON.stringify(report.audit).includes(USER), "no user id in clear in the audit record");
    const tombstoneMs = Date.parse(report.tombstoneUntil) - Date.now();
    assert.ok(tombstoneMs > 14 * 24 * HOUR_MS, `tombstone outlives the DLQ's 14 days: ${report.tombstoneUntil}`);

    await stack.startNormalize();
    await post("hrv", { userId: OTHER, date: daysAgo(3), rmssd: 61, eventId: "k-hrv-2" });
    await waitFor(async () => (await count("hrv_data", OTHER)) === 2, { what: "the other user's new row" });
    await drained("normalize-hrv-durable");
    await drained("normalize-sleep-durable");
    assert.equal(await count("hrv_data", USER), 0, "the in-flight HRV reading was not stored");
    assert.equal(await count("sleep_data", USER), 0, "the in-flight sleep reading was not stored");
  });
});
