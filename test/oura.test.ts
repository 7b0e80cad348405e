import assert from "node:assert/strict";
import { createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { DEFAULT_TOPOLOGY_NAMES, DlqHeaders, streamCandidates } from "@aa/event-bus";
import { normalizeOuraEnv, sleepNotification, startFakeOura, type FakeOura } from "./helpers/fake-oura.js";
import { freePort } from "./helpers/nats.js";
import { linkInBrowser } from "./helpers/oura-link.js";
import { aaOps } from "./helpers/cli.js";
import { baseUrl, startService } from "./helpers/service.js";
import { createStack, getJson, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const VENDOR = "AA_VENDOR_HOT";
const DLQ_PREFIX = "dlq.normalize.vendor.oura.webhook.received";
const SECRET = `whsec-current-${randomBytes(16).toString("hex")}`;
const PREVIOUS = `whsec-previous-${randomBytes(16).toString("hex")}`;
const VERIFICATION_TOKEN = `verify-${randomBytes(8).toString("hex")}`;
const KEY = randomBytes(32).toString("base64");
const LINK_SECRET = `link-secret-${randomBytes(16).toString("hex")}`;

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** Oura's scheme, written independently of the code under test: hex HMAC-SHA256 of timestamp + raw body. */
function sign(body: string, secret = SECRET, timestamp = nowSeconds()): Record<string, string> {
  const signature = createHmac("sha256", secret)
    .update(timestamp + body)
    .digest("hex")
    .toUpperCase();
  return { "x-oura-signature": signature, "x-oura-timestamp": timestamp };
}

/** A `SleepModel` document as Oura returns it (the fields we map, and some we ignore). */
const sleepDoc = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  day: "2025-10-02",
  type: "long_sleep",
  bedtime_start: "2025-10-01T23:10:00+02:00",
  bedtime_end: "2025-10-02T07:05:00+02:00",
  total_sleep_duration: 26_250,
  average_hrv: 48,
  average_heart_rate: 52.1,
  efficiency: 91,
  time_in_bed: 28_500,
  ...extra,
});

describe("Oura: webhooks, linking, normalize-oura (multi mode)", () => {
  let stack: Stack;
  let fake: FakeOura;
  let webhookUrl: string;

  before(async () => {
    fake = await startFakeOura();
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize({
      ...normalizeOuraEnv(fake, stack.normalizeUrl, KEY),
      OURA_SUBSCRIPTION_CHECK_INTERVAL_MS: "1000",
      OURA_LINK_TOKEN_SECRET: LINK_SECRET,
      OURA_LINK_RATE_LIMIT_MAX: "0",
    });
    await stack.startIngest({
      OURA_WEBHOOK_SECRET: SECRET,
      OURA_WEBHOOK_SECRET_PREVIOUS: PREVIOUS,
      OURA_VERIFICATION_TOKEN: VERIFICATION_TOKEN,
    });
    webhookUrl = `${stack.ingestUrl}/webhooks/oura`;
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
  });

  const deliver = (body: string, headers: Record<string, string>) =>
    fetch(webhookUrl, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();
  const metricValue = async (url: string, line: RegExp) => Number(line.exec(await metrics(url))?.[1] ?? Number.NaN);
  const ouraMessages = (result: string) =>
    metricValue(
      stack.normalizeUrl,
      new RegExp(
        `^normalize_oura_messages_total\\{result="${result}",subject="vendor.oura.webhook.received",stream="${VENDOR}",durable="normalize-oura"\\} (\\d+)$`,
        "m",
      ),
    );
  const sleepFetches = (id: string) => fake.requests.filter((r) => r.path === `/v2/usercollection/sleep/${id}`);
  const dlqCopy = (reason: string) =>
    waitFor(
      () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${DLQ_PREFIX}.${reason}` }).catch(() => undefined),
      { what: `DLQ ${reason}` },
    );

  /** The browser's trip (test/oura-link.test.ts covers who may make it). */
  const link = (userId: string, ouraUserId: string) =>
    linkInBrowser(stack.normalizeUrl, fake, LINK_SECRET, userId, ouraUserId);

  async function rows(table: "sleep_data" | "hrv_data", userId: string) {
    const value = table === "sleep_data" ? "duration_minutes, quality_score" : "rmssd";
    return (
      await stack.db.pool.query(
        `SELECT ${value}, to_char(date, 'YYYY-MM-DD') AS date, event_id, raw, updated_at FROM ${table} WHERE user_id = $1`,
        [userId],
      )
    ).rows;
  }

  test("the Oura durable binds on the vendor stream; the runbook's candidates line is unchanged", () => {
    const names = DEFAULT_TOPOLOGY_NAMES;
    assert.deepEqual(streamCandidates("multi", names, "vendor.oura.webhook.received"), [
      "AA_VENDOR_HOT",
      "ATHLETE_ALLY_EVENTS",
    ]);
    assert.deepEqual(streamCandidates("single", names, "vendor.oura.webhook.received"), ["ATHLETE_ALLY_EVENTS"]);
    assert.deepEqual(streamCandidates("multi", names, "athlete-ally.sleep.raw-received"), [
      "AA_CORE_HOT",
      "ATHLETE_ALLY_EVENTS",
    ]);
    const log = stack.normalize!.messages();
    assert.ok(log.includes("[normalize-service] Stream candidates: AA_CORE_HOT, ATHLETE_ALLY_EVENTS"), log.join("\n"));
    assert.ok(log.includes("[normalize] Found existing Oura consumer on AA_VENDOR_HOT: normalize-oura"));
    assert.ok(
      log.includes(
        "[normalize] Oura durable pull consumer bound: normalize-oura, subject: vendor.oura.webhook.received",
      ),
    );
    assert.ok(log.includes(`[normalize-oura] DLQ subject prefix: ${DLQ_PREFIX}`));
    assert.ok(
      stack.ingest!.messages().some((m) => m.startsWith("[ingest] Oura webhooks enabled at /webhooks/oura (rotation")),
    );
  });

  test("GET handshake: the challenge is echoed only for the configured verification_token", async () => {
    const ok = await getJson(`${webhookUrl}?verification_token=${VERIFICATION_TOKEN}&challenge=abc123`);
    assert.deepEqual(ok, { status: 200, body: { challenge: "abc123" } });
    assert.equal((await getJson(`${webhookUrl}?verification_token=wrong&challenge=abc123`)).status, 401);
    assert.equal((await getJson(`${webhookUrl}?challenge=abc123`)).status, 401);
  });

  test("rejected webhooks: each gets its status, nothing is published, nothing secret is logged", async () => {
    const before = await streamMessages(stack.jsm, VENDOR);
    const body = sleepNotification("doc-rejected", "oura-user-x");
    const old = String(Math.floor(Date.now() / 1000) - 301);
    const cases: [string, string, Record<string, string>, number][] = [
      ["stale timestamp", body, sign(body, SECRET, old), 401],
      // Replayable past the 2-minute duplicate window under the former 300 s tolerance; now outside the 60 s one.
      ["signed 90 s ago", body, sign(body, SECRET, String(Math.floor(Date.now() / 1000) - 90)), 401],
      // +305, not +301: ingest reads the clock a moment later, possibly in the next second.
      ["timestamp in the future", body, sign(body, SECRET, String(Math.floor(Date.now() / 1000) + 305)), 401],
      ["milliseconds timestamp", body, sign(body, SECRET, String(Date.now())), 401],
      ["tampered body", body.replace("doc-rejected", "doc-tampered"), sign(body), 401],
      ["unknown secret", body, sign(body, "some-other-secret"), 401],
      ["no signature headers", body, {}, 401],
      ["signed but not JSON", "{not json", sign("{not json"), 400],
      [
        "signed but missing fields",
        JSON.stringify({ event_type: "create" }),
        sign(JSON.stringify({ event_type: "create" })),
        400,
      ],
    ];
    for (const [what, payload, headers, status] of cases) {
      const reply = await deliver(payload, headers);
      assert.equal(reply.status, status, `${what}: ${await reply.text()}`);
    }
    const replayed = sign(body, SECRET, old);
    assert.equal((await deliver(body, replayed)).status, 401, "a captured request replayed minutes later");
    assert.equal(await streamMessages(stack.jsm, VENDOR), before);
    const log = stack.ingest!.lines.join("\n");
    for (const secret of [SECRET, PREVIOUS, replayed["x-oura-signature"]!])
      assert.ok(!log.includes(secret), "no secret or signature in the log");
    // No line per rejection at info or above (a stranger's forgeries must not flood the logs): the counter tells.
    assert.doesNotMatch(log, /Oura webhook (handshake )?rejected/);
    assert.ok(
      (await metricValue(
        stack.ingestUrl,
        /^http_requests_total\{route="\/webhooks\/oura",method="POST",status_code="401"\} (\d+)$/m,
      )) >= 7,
    );
  });

  test("an address whose webhooks keep failing their checks gets 429 before its body is read; signed deliveries never count", async () => {
    const port = String(await freePort());
    const ingest = startService("ingest", {
      ...stack.env,
      PORT: port,
      TRUST_PROXY: "127.0.0.1",
      OURA_WEBHOOK_SECRET: SECRET,
      OURA_VERIFICATION_TOKEN: VERIFICATION_TOKEN,
      OURA_WEBHOOK_FAILURES_MAX: "3",
      OURA_WEBHOOK_FAILURES_WINDOW_MS: "60000",
    });
    try {
      await ingest.waitForLog("[ingest] Listening on");
      const url = `${baseUrl(port)}/webhooks/oura`;
      const from = (address: string, body: string, headers: Record<string, string>) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": address, ...headers },
          body,
        });
      const signedButInvalid = JSON.stringify({ event_type: "create" });
      // Oura's deliveries are never limited: ten signed ones (invalid bodies: nothing is published) spend nothing.
      for (let i = 0; i < 10; i++)
        assert.equal((await from("198.51.100.1", signedButInvalid, sign(signedButInvalid))).status, 400);
      const forged = sleepNotification("doc-flood", "oura-flood");
      const statuses = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await from("198.51.100.1", forged, sign(forged, "not-the-secret"))).status);
      assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
      const limited = await from("198.51.100.1", signedButInvalid, sign(signedButInvalid));
      assert.equal(limited.status, 429, "refused before the body is read, so even a signed one");
      assert.ok(Number(limited.headers.get("retry-after")) > 0);
      assert.match(
        ((await limited.json()) as { error: string }).error,
        /^Too many rejected webhooks from this address: at most 3 failed checks per window; retry in \d+ s$/,
      );
      const handshake = await fetch(`${url}?verification_token=wrong&challenge=x`, {
        headers: { "x-forwarded-for": "198.51.100.1" },
      });
      assert.equal(handshake.status, 429);
      assert.equal(
        (await from("198.51.100.2", forged, sign(forged, "not-the-secret"))).status,
        401,
        "another address has its own budget",
      );
      assert.doesNotMatch(
        ingest.lines.join("\n"),
        /Oura webhook (rejected|refused|handshake)/,
        "nothing logged per refusal at info",
      );
    } finally {
      await ingest.stop();
    }
  });

  test("OAuth link: PKCE S256 verifier sent, state single-use, tokens encrypted at rest", async () => {
    const linked = await link("athlete-link", "oura-link");
    assert.deepEqual([linked.status, linked.body], [200, { status: "linked", userId: "athlete-link" }]);
    assert.equal(linked.authorize.searchParams.get("code_challenge_method"), "S256");
    assert.equal(linked.authorize.searchParams.get("redirect_uri"), `${stack.normalizeUrl}/auth/oura/callback`);
    const exchange = fake.requests.filter((r) => r.path === "/oauth/token").at(-1)!;
    assert.equal(exchange.form?.grant_type, "authorization_code");
    assert.match(
      exchange.form?.code_verifier ?? "",
      /^[A-Za-z0-9_-]{43,128}$/,
      "the fake checked it against the challenge",
    );

    const again = await fetch(linked.callbackUrl, { headers: { cookie: linked.cookie } });
    assert.equal(again.status, 400, "the state is single-use");
    assert.equal((await fetch(`${stack.normalizeUrl}/auth/oura/callback?code=x&state=forged`)).status, 400);

    const issued = fake.issued.at(-1)!;
    const row = (
      await stack.db.pool.query(
        "SELECT oura_user_id, access_token, refresh_token FROM oura_accounts WHERE user_id = 'athlete-link'",
      )
    ).rows[0];
    assert.equal(row.oura_user_id, "oura-link");
    for (const [column, plain] of [
      [row.access_token, issued.accessToken],
      [row.refresh_token, issued.refreshToken],
    ] as [Buffer, string][]) {
      assert.ok(Buffer.isBuffer(column) && column.length > plain.length);
      assert.equal(column.indexOf(plain), -1, "no plaintext token in the column");
      assert.ok(!column.toString("latin1").includes(plain.slice(3)), "not even the random part");
      assert.equal(
        openAesGcm(column, "athlete-link"),
        plain,
        "AES-256-GCM under OURA_TOKEN_ENCRYPTION_KEY, bound to the user id",
      );
    }
    assert.equal((await stack.db.pool.query("SELECT count(*)::int AS n FROM oura_link_states")).rows[0].n, 0);
  });

  test("a signed webhook delivered three times: one sleep row and one HRV row, vendor oura", async () => {
    await link("athlete-e2e", "oura-e2e");
    fake.sleep.set("sleep-e2e", sleepDoc("sleep-e2e"));
    const body = sleepNotification("sleep-e2e", "oura-e2e");
    const before = await streamMessages(stack.jsm, VENDOR);
    const replies = [];
    // Each delivery signed anew at another time, all within the 60 s timestamp tolerance.
    for (const skew of [50, 25, 0]) {
      const reply = await deliver(body, sign(body, SECRET, String(Math.floor(Date.now() / 1000) - skew)));
      replies.push({ status: reply.status, body: (await reply.json()) as Record<string, unknown> });
    }
    assert.deepEqual(
      replies.map((r) => r.status),
      [202, 202, 202],
    );
    assert.deepEqual(
      replies.map((r) => r.body.duplicate ?? false),
      [false, true, true],
    );
    assert.equal(new Set(replies.map((r) => r.body.notificationId)).size, 1);
    assert.equal(await streamMessages(stack.jsm, VENDOR), before + 1, "the vendor stream shows the traffic, once");

    const [sleep] = await waitFor(
      async () =>
        (await rows("sleep_data", "athlete-e2e")).length > 0 && (await rows("hrv_data", "athlete-e2e")).length > 0
          ? rows("sleep_data", "athlete-e2e")
          : undefined,
      { what: "Oura rows" },
    );
    const [hrv] = await rows("hrv_data", "athlete-e2e");
    assert.equal(sleep.duration_minutes, 437.5);
    assert.equal(sleep.quality_score, null);
    assert.equal(sleep.date, "2025-10-02");
    assert.equal(hrv.rmssd, 48);
    for (const row of [sleep, hrv]) assert.deepEqual([row.raw.vendor, row.raw.document_id], ["oura", "sleep-e2e"]);
    assert.equal(sleep.event_id, "oura:sleep:sleep-e2e:2025-10-02T07:30:00.000Z");
    assert.equal(hrv.event_id, "oura:hrv:sleep-e2e:2025-10-02T07:30:00.000Z");
    assert.equal(sleepFetches("sleep-e2e").length, 1);

    // Oura retrying after the 2-minute duplicate window: a new stream message, fetched again, still one row each.
    const stored = await stack.jsm.streams.getMessage(VENDOR, { last_by_subj: "vendor.oura.webhook.received" });
    const ack = await stack.js.publish("vendor.oura.webhook.received", stored!.data, { msgID: "late-redelivery" });
    assert.equal(ack.duplicate, false);
    await waitFor(() => sleepFetches("sleep-e2e").length === 2, { what: "second fetch" });
    await waitFor(async () => (await ouraMessages("success")) >= 2, { what: "second success" });
    assert.deepEqual(await rows("sleep_data", "athlete-e2e"), [sleep]);
    assert.deepEqual(await rows("hrv_data", "athlete-e2e"), [hrv]);
  });

  test("an access token Oura rejects (401) is refreshed once, the fetch retried, the new tokens stored encrypted", async () => {
    await link("athlete-refresh", "oura-refresh");
    const first = fake.issued.at(-1)!;
    fake.expireAccessToken(first.accessToken);
    fake.sleep.set("sleep-refresh", sleepDoc("sleep-refresh", { score: 81 }));
    const body = sleepNotification("sleep-refresh", "oura-refresh");
    assert.equal((await deliver(body, sign(body))).status, 202);
    const [row] = await waitFor(() => rows("sleep_data", "athlete-refresh").then((r) => (r.length ? r : undefined)), {
      what: "row after refresh",
    });
    assert.equal(row.quality_score, 81);
    const refreshGrant = fake.requests.find(
      (r) =>
        r.path === "/oauth/token" &&
        r.form?.grant_type === "refresh_token" &&
        r.form.refresh_token === first.refreshToken,
    );
    assert.ok(refreshGrant, "refresh_token grant with the stored refresh token");
    const renewed = fake.issued.at(-1)!;
    assert.equal(renewed.grant, "refresh_token");
    const stored = (
      await stack.db.pool.query("SELECT access_token FROM oura_accounts WHERE user_id = 'athlete-refresh'")
    ).rows[0].access_token as Buffer;
    assert.equal(stored.indexOf(renewed.accessToken), -1);
    assert.deepEqual(
      sleepFetches("sleep-refresh").map((r) => r.headers.authorization),
      [`Bearer ${first.accessToken}`, `Bearer ${renewed.accessToken}`],
    );
  });

  test("429 with Retry-After: the fetch is retried after the delay Oura asked for", async () => {
    await link("athlete-429", "oura-429");
    fake.sleep.set("sleep-429", sleepDoc("sleep-429"));
    fake.script("/v2/usercollection/sleep/sleep-429", {
      status: 429,
      headers: { "retry-after": "2" },
      body: { detail: "Too Many Requests" },
    });
    const body = sleepNotification("sleep-429", "oura-429");
    assert.equal((await deliver(body, sign(body))).status, 202);
    await waitFor(() => rows("hrv_data", "athlete-429").then((r) => r.length === 1), {
      what: "row after 429",
      timeoutMs: 20_000,
    });
    const [limited, retried] = sleepFetches("sleep-429");
    assert.ok(limited && retried);
    // The computed retry delay in this stack is 0.2 s: a gap of ~2 s is Oura's Retry-After.
    assert.ok(retried.at - limited.at >= 1_900, `retried after ${retried.at - limited.at} ms`);
    assert.ok((await ouraMessages("retry")) >= 1);
  });

  test("404 from Oura: dead-lettered with reason not_found, nothing stored", async () => {
    await link("athlete-404", "oura-404");
    const body = sleepNotification("sleep-missing", "oura-404");
    assert.equal((await deliver(body, sign(body))).status, 202);
    const copy = await dlqCopy("not-found");
    assert.equal(copy.header.get(DlqHeaders.reason), "not_found");
    assert.equal(copy.header.get(DlqHeaders.durable), "normalize-oura");
    assert.equal(JSON.parse(new TextDecoder().decode(copy.data)).objectId, "sleep-missing");
    await waitFor(
      async () =>
        (await metricValue(
          stack.normalizeUrl,
          /^dlq_messages_total\{consumer="normalize-oura",reason="not_found"\} (\d+)$/m,
        )) === 1,
      { what: "dlq metric" },
    );
    assert.equal((await rows("sleep_data", "athlete-404")).length, 0);
  });

  test("rotation: a webhook signed with the previous secret is accepted; an unlinked Oura user is dead-lettered not_linked", async () => {
    const body = sleepNotification("sleep-nobody", "oura-nobody");
    const reply = await deliver(body, sign(body, PREVIOUS));
    assert.equal(reply.status, 202, await reply.text());
    const copy = await dlqCopy("not-linked");
    assert.equal(copy.header.get(DlqHeaders.reason), "not_linked");
    assert.equal(sleepFetches("sleep-nobody").length, 0);
  });

  test("an unknown data_type is acknowledged and counted as ignored, without calling Oura", async () => {
    // normalize lists its subscriptions every second here (the expiry gauge): only other calls count.
    const calls = () => fake.requests.filter((r) => r.path !== "/v2/webhook/subscription").length;
    const before = calls();
    const body = sleepNotification("workout-1", "oura-e2e", { data_type: "workout" });
    assert.equal((await deliver(body, sign(body))).status, 202);
    await waitFor(async () => (await ouraMessages("ignored")) === 1, { what: "ignored metric" });
    assert.equal(calls(), before);
    await waitFor(async () => (await stack.jsm.consumers.info(VENDOR, "normalize-oura")).num_ack_pending === 0, {
      what: "acked",
    });
  });

  test("aa-ops oura subscriptions create, list, renew; normalize exports seconds to the nearest expiry", async () => {
    const env = {
      PATH: process.env.PATH ?? "",
      OURA_CLIENT_ID: fake.clientId,
      OURA_CLIENT_SECRET: fake.clientSecret,
      OURA_API_BASE_URL: fake.url,
      OURA_VERIFICATION_TOKEN: VERIFICATION_TOKEN,
    };
    const created = await aaOps(["oura", "subscriptions", "create", "--callback-url", webhookUrl, "--json"], env);
    assert.equal(created.code, 0, created.stderr);
    const subs = JSON.parse(created.stdout) as { id: string; event_type: string; data_type: string }[];
    assert.deepEqual(
      subs.map((s) => `${s.data_type}/${s.event_type}`),
      ["sleep/create", "sleep/update"],
      "Oura's handshake against ingest passed",
    );
    const listed = await aaOps(["oura", "subscriptions", "list"], env);
    assert.match(listed.stdout, new RegExp(`^${subs[0]!.id} +sleep +create +\\S+ +29d 23h +${webhookUrl}$`, "m"));

    const soon = new Date(Date.now() + 3_600_000).toISOString();
    fake.subscriptions.get(subs[0]!.id)!.expiration_time = soon;
    await waitFor(
      async () =>
        Math.abs(
          (await metricValue(stack.normalizeUrl, /^oura_webhook_subscription_expiry_seconds ([\d.e+-]+)$/m)) - 3_600,
        ) < 30,
      { what: "gauge ~1 h" },
    );
    const renewed = await aaOps(["oura", "subscriptions", "renew", "--within", "2d"], env);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.match(renewed.stdout, new RegExp(`^${subs[0]!.id} .* 89d 23h`, "m"));
    assert.doesNotMatch(renewed.stdout, new RegExp(subs[1]!.id), "the other one is not due");
    await waitFor(
      async () =>
        (await metricValue(stack.normalizeUrl, /^oura_webhook_subscription_expiry_seconds ([\d.e+-]+)$/m)) >
        29 * 86_400,
      { what: "gauge after renew" },
    );
    const noCreds = await aaOps(["oura", "subscriptions", "list"], { PATH: env.PATH });
    assert.equal(noCreds.code, 2);
    assert.match(noCreds.stderr, /OURA_CLIENT_ID and OURA_CLIENT_SECRET must be set/);
  });

  test("without OURA_WEBHOOK_SECRET the route says so at startup and answers 503", async () => {
    const port = String(await freePort());
    const ingest = startService("ingest", { ...stack.env, PORT: port });
    try {
      await ingest.waitForLog(
        "[ingest] Oura webhooks disabled: OURA_WEBHOOK_SECRET is not set; /webhooks/oura answers 503",
      );
      await ingest.waitForLog("[ingest] Listening on");
      const reply = await fetch(`${baseUrl(port)}/webhooks/oura`, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      });
      assert.equal(reply.status, 503);
      assert.match(((await reply.json()) as { error: string }).error, /not configured.*OURA_WEBHOOK_SECRET/);
    } finally {
      await ingest.stop();
    }
  });

  test("ingest refuses an OURA_WEBHOOK_SECRET (or _PREVIOUS) shorter than 32 characters at startup, naming it", async () => {
    for (const [name, env] of [
      ["OURA_WEBHOOK_SECRET", { OURA_WEBHOOK_SECRET: "whsec-short-0123456789abcdef" }],
      ["OURA_WEBHOOK_SECRET_PREVIOUS", { OURA_WEBHOOK_SECRET: SECRET, OURA_WEBHOOK_SECRET_PREVIOUS: "whsec-short" }],
    ] as const) {
      const ingest = startService("ingest", { ...stack.env, PORT: String(await freePort()), ...env });
      assert.equal(await ingest.exited, 1);
      const text = ingest.lines.join("\n");
      assert.match(text, new RegExp(`${name} must NOT have fewer than 32 characters, got \\(hidden\\)`));
      assert.ok(!text.includes("whsec-short"), "the secret is not quoted");
    }
  });

  test("normalize refuses a malformed OURA_TOKEN_ENCRYPTION_KEY or a partial Oura config at startup", async () => {
    const bad = startService("normalize", {
      ...stack.env,
      PORT: "0",
      OURA_CLIENT_ID: "id",
      OURA_TOKEN_ENCRYPTION_KEY: randomBytes(16).toString("base64"),
    });
    assert.equal(await bad.exited, 1);
    const text = bad.lines.join("\n");
    assert.match(text, /OURA_TOKEN_ENCRYPTION_KEY must decode to 32 bytes \(AES-256\), got 16 bytes/);
    assert.match(text, /OURA_CLIENT_SECRET is required/);
  });
});

/** Decrypts a token column independently of the code: version (1) | IV (12) | tag (16) | ciphertext, AAD = user id. */
function openAesGcm(sealed: Buffer, userId: string): string {
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(KEY, "base64"), sealed.subarray(1, 13));
  decipher.setAAD(Buffer.from(userId));
  decipher.setAuthTag(sealed.subarray(13, 29));
  return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]).toString();
}
