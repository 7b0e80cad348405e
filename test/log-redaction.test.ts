import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Type } from "@sinclair/typebox";
import { SignJWT } from "jose";
import { createLogger, loadConfig, userIdHasher } from "@aa/service-kit";
import { aaOps, showRun } from "./helpers/cli.js";
import { normalizeOuraEnv, sleepNotification, startFakeOura, type FakeOura } from "./helpers/fake-oura.js";
import { consent, finishLink, linkInBrowser, linkToken, startLink } from "./helpers/oura-link.js";
import { testDatabaseUrl } from "./helpers/postgres.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const run = promisify(execFile);
const HASH_KEY = `log-hash-key-${randomBytes(16).toString("hex")}`;
const SECRET = `s3cret-${randomBytes(8).toString("hex")}`;

/** A JSON logger writing into an array. */
function capture(userIdHashKey: string | undefined) {
  const lines: string[] = [];
  const logger = createLogger({
    service: "test",
    level: "debug",
    userIdHashKey,
    destination: { write: (line: string) => void lines.push(line) },
  });
  const last = () => JSON.parse(lines.at(-1) ?? "{}") as Record<string, unknown>;
  return { logger, lines, last };
}

/** A PostgreSQL error as pg builds it: the row and the parameter are echoed in detail and where. */
function pgError(): Error {
  return Object.assign(new Error('new row for relation "hrv_data" violates check constraint "x"'), {
    code: "23514",
    detail: `Failing row contains (1, ${SECRET}, 2025-10-02).`,
    where: `unnamed portal parameter $1 = '${SECRET}'`,
  });
}

function invalidUrlError(): unknown {
  try {
    return new URL(`postgres//app:${SECRET}@db/athlete`);
  } catch (error) {
    return error;
  }
}

describe("log redaction (service-kit createLogger)", () => {
  test("every secret field is [Redacted], at the top of a record and one level down", () => {
    const records: [string, Record<string, unknown>][] = [
      ["password", { password: SECRET }],
      ["nested password", { config: { password: SECRET } }],
      ["token", { token: SECRET }],
      ["OAuth tokens", { access_token: SECRET, refresh_token: SECRET, id_token: SECRET }],
      ["OAuth tokens, camelCase", { tokens: { accessToken: SECRET, refreshToken: SECRET, idToken: SECRET } }],
      [
        "client secret and PKCE verifier",
        { client_secret: SECRET, code_verifier: SECRET, oauth: { clientSecret: SECRET, codeVerifier: SECRET } },
      ],
      ["API keys", { apiKey: SECRET, key: { api_key: SECRET } }],
      [
        "connection strings",
        {
          connectionString: `postgres://app:${SECRET}@db/athlete`,
          db: { databaseUrl: `postgres://app:${SECRET}@db/athlete` },
        },
      ],
      [
        "headers",
        {
          headers: {
            authorization: `Bearer ${SECRET}`,
            cookie: `sid=${SECRET}`,
            "x-api-key": SECRET,
            "x-oura-signature": SECRET,
          },
        },
      ],
      [
        "request headers one level down",
        { request: { headers: { authorization: `Bearer ${SECRET}`, "x-api-key": SECRET } } },
      ],
      ["OAuth callback query", { query: { code: SECRET, state: SECRET } }],
      ["PostgreSQL error detail and where", { err: pgError() }],
      ["aggregated PostgreSQL errors", { err: new AggregateError([pgError()], "several failed") }],
      ["Node's invalid URL error", { err: invalidUrlError() }],
    ];
    for (const [what, record] of records) {
      const { logger, lines } = capture(HASH_KEY);
      logger.error(record, "something happened");
      const line = lines.join("");
      assert.ok(!line.includes(SECRET), `${what}: ${line}`);
      assert.match(line, /\[Redacted\]/, what);
      assert.match(line, /something happened|several failed/, `${what}: the record itself is kept`);
    }
  });

  test("the SQLSTATE and message of a PostgreSQL error are kept", () => {
    const { logger, last } = capture(HASH_KEY);
    logger.warn({ err: pgError() }, "write failed");
    const err = last().err as Record<string, unknown>;
    assert.equal(err.code, "23514");
    assert.match(String(err.message), /violates check constraint/);
  });

  test("a logged request is its method and path: no query string, no headers", () => {
    const { logger, lines, last } = capture(HASH_KEY);
    logger.error(
      {
        req: {
          method: "GET",
          url: `/auth/oura/callback?code=${SECRET}&state=${SECRET}`,
          headers: { authorization: SECRET },
        },
      },
      "request failed",
    );
    assert.deepEqual(last().req, { method: "GET", url: "/auth/oura/callback" });
    assert.ok(!lines.join("").includes(SECRET));
  });

  test("user ids are logged as their keyed hash (HMAC-SHA256, 16 hex), the same the documented openssl line gives", async () => {
    const hash = userIdHasher(HASH_KEY);
    const { logger, lines, last } = capture(HASH_KEY);
    logger.info(
      { userId: "athlete-42", userIds: ["athlete-42", "athlete-43"], ouraUserId: "oura-7", user_id: "athlete-43" },
      "linked",
    );
    const record = last();
    assert.match(String(record.userId), /^[0-9a-f]{16}$/);
    assert.deepEqual(record, {
      ...record,
      userId: hash("athlete-42"),
      userIds: [hash("athlete-42"), hash("athlete-43")],
      ouraUserId: hash("oura-7"),
      user_id: hash("athlete-43"),
    });
    assert.equal(hash("athlete-42"), createHmac("sha256", HASH_KEY).update("athlete-42").digest("hex").slice(0, 16));
    const { stdout } = await run("sh", ["-c", 'printf %s "$ID" | openssl dgst -sha256 -hmac "$KEY"'], {
      env: { PATH: process.env.PATH ?? "", ID: "athlete-42", KEY: HASH_KEY },
    });
    assert.ok(stdout.trim().endsWith(createHmac("sha256", HASH_KEY).update("athlete-42").digest("hex")), stdout);
    assert.ok(!lines.join("").includes("athlete-4"), "no clear user id");
    assert.notEqual(
      userIdHasher("another key of 32 characters....")("athlete-42"),
      hash("athlete-42"),
      "another key, another value",
    );
    const unkeyed = capture(undefined);
    unkeyed.logger.info({ userId: "athlete-42" }, "linked");
    assert.notEqual(unkeyed.last().userId, hash("athlete-42"), "without LOG_HASH_KEY: a random key of the process");
  });

  test("Invalid configuration never quotes a secret or a URL's password", () => {
    const schema = Type.Object({
      OURA_CLIENT_SECRET: Type.String({ minLength: 64 }),
      LOG_HASH_KEY: Type.String({ minLength: 64 }),
      DATABASE_URL: Type.String({ pattern: "^postgresql://" }),
      PORT: Type.Integer(),
    });
    assert.throws(
      () =>
        loadConfig(schema, {
          OURA_CLIENT_SECRET: SECRET,
          LOG_HASH_KEY: SECRET,
          DATABASE_URL: `postgres://app:${SECRET}@db:5432/athlete`,
          PORT: "x",
        }),
      (error: Error) => {
        assert.ok(!error.message.includes(SECRET), error.message);
        assert.match(error.message, /OURA_CLIENT_SECRET must NOT have fewer than 64 characters, got \(hidden\)/);
        assert.match(
          error.message,
          /DATABASE_URL must match pattern .*, got "postgres:\/\/app:\*\*\*@db:5432\/athlete"/,
        );
        assert.match(error.message, /PORT must be integer, got "x"/, "other values are still quoted");
        return true;
      },
    );
  });
});

describe("service logs through a stack: no user ids, payloads or secrets", () => {
  const tag = randomBytes(4).toString("hex");
  const users = {
    reading: `log-user-${tag}`,
    rejected: `log-rejected-${tag}`,
    invalid: `log-invalid-${tag}`,
    linked: `log-linked-${tag}`,
  };
  const ouraUsers = { linked: `log-oura-linked-${tag}`, unlinked: `log-oura-unlinked-${tag}` };
  const payloadMarker = `payload-marker-${tag}`;
  const webhookSecret = `whsec-${randomBytes(16).toString("hex")}`;
  const verificationToken = `verify-${randomBytes(12).toString("hex")}`;
  const encryptionKey = randomBytes(32).toString("base64");
  let databasePassword: string;
  const natsPassword = `nats-pw-${randomBytes(8).toString("hex")}`;
  const jwtSecret = `jwt-secret-${randomBytes(16).toString("hex")}`;
  const linkSecret = `link-secret-${randomBytes(16).toString("hex")}`;
  let stack: Stack;
  let fake: FakeOura;
  let callbackUrl: URL;
  let linkTokens: string[];
  let browserCookies: string[];
  let apiKey: string;
  let jwt: string;

  const signed = (body: string, secret = webhookSecret): Record<string, string> => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    return {
      "x-oura-signature": createHmac("sha256", secret)
        .update(timestamp + body)
        .digest("hex"),
      "x-oura-timestamp": timestamp,
    };
  };
  const deliver = (body: string, headers: Record<string, string>) =>
    fetch(`${stack.ingestUrl}/webhooks/oura`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
  const logOf = () => [...stack.ingest!.lines, ...stack.normalize!.lines];
  const count = (text: string) => stack.normalize!.messages().filter((m) => m.includes(text)).length;

  before(async () => {
    fake = await startFakeOura();
    const database = new URL(await testDatabaseUrl());
    // Trust auth ignores the password, so a made-up one proves it never reaches the logs.
    if (database.password === "") database.password = `db-pw-${randomBytes(8).toString("hex")}`;
    databasePassword = decodeURIComponent(database.password);
    stack = await createStack({
      mode: "multi",
      databaseUrl: database.toString(),
      natsUser: { user: "pipeline", password: natsPassword },
    });
    await stack.startNormalize({
      LOG_LEVEL: "debug",
      LOG_HASH_KEY: HASH_KEY,
      ...normalizeOuraEnv(fake, stack.normalizeUrl, encryptionKey),
      OURA_SUBSCRIPTION_CHECK_INTERVAL_MS: "1000",
      OURA_LINK_TOKEN_SECRET: linkSecret,
    });
    const created = await aaOps(
      [
        "keys",
        "create",
        "--name",
        "log-test",
        "--tenant",
        "log-test",
        "--users",
        `${users.reading},${users.invalid},${users.rejected}`,
        "--json",
      ],
      { DATABASE_URL: stack.db.url, DATABASE_SCHEMA: stack.db.schema },
    );
    assert.equal(created.code, 0, showRun(created));
    apiKey = (JSON.parse(created.stdout) as { token: string }).token;
    jwt = await new SignJWT({ user_ids: [users.reading] })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("log-test")
      .setAudience("ingest")
      .setSubject("log-test-client")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(jwtSecret));
    await stack.startIngest({
      LOG_LEVEL: "debug",
      LOG_HASH_KEY: HASH_KEY,
      OURA_WEBHOOK_SECRET: webhookSecret,
      OURA_VERIFICATION_TOKEN: verificationToken,
      INGEST_AUTH_MODE: "api-key,jwt",
      INGEST_JWT_ISSUER: "log-test",
      INGEST_JWT_AUDIENCE: "ingest",
      INGEST_JWT_SECRET: jwtSecret,
      RATE_LIMIT_MAX: "4",
      RATE_LIMIT_WINDOW_MS: "60000",
    });
    const key = { authorization: `Bearer ${apiKey}` };
    // A database error whose DETAIL echoes the row, as constraint violations do.
    await stack.db.pool.query(`
      CREATE FUNCTION log_test_reject() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.user_id = '${users.rejected}' THEN
          RAISE EXCEPTION 'rejected by the log test' USING DETAIL = 'Failing row contains (' || NEW.user_id || ')', ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER log_test_reject BEFORE INSERT ON hrv_data FOR EACH ROW EXECUTE FUNCTION log_test_reject();`);

    const today = new Date().toISOString().slice(0, 10);
    const raw = { device: payloadMarker };
    assert.equal(
      (await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: users.reading, date: today, rmssd: 55, raw }, key))
        .status,
      202,
    );
    assert.equal(
      (
        await postJson(
          `${stack.ingestUrl}/ingest/sleep`,
          { userId: users.reading, date: today, durationMinutes: 420, raw },
          { authorization: `Bearer ${jwt}` },
        )
      ).status,
      202,
    );
    assert.equal(
      (await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: users.invalid, date: today, rmssd: -1, raw }, key))
        .status,
      400,
    );
    assert.equal(
      (await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: users.rejected, date: today, rmssd: 50, raw }, key))
        .status,
      202,
    );
    // Refusals: a wrong secret, a forged JWT, a user outside the JWT's scope, the rate limit (4 per minute: the burst makes the key's 4th to 6th request).
    assert.equal(
      (
        await postJson(
          `${stack.ingestUrl}/ingest/hrv`,
          { userId: users.reading, date: today, rmssd: 55 },
          { "x-api-key": `${apiKey.slice(0, -3)}xyz` },
        )
      ).status,
      401,
    );
    // The whole key in the wrong place (no 'Bearer '): refused without quoting it, in the answer or the debug log.
    const unscheme = await postJson(
      `${stack.ingestUrl}/ingest/hrv`,
      { userId: users.reading, date: today, rmssd: 55 },
      { authorization: apiKey },
    );
    assert.equal(unscheme.status, 401);
    assert.ok(
      !JSON.stringify(unscheme.body).includes(apiKey.split("_").slice(2).join("_").slice(0, 32)),
      "the key is not quoted back",
    );
    assert.equal(
      (
        await postJson(
          `${stack.ingestUrl}/ingest/hrv`,
          { userId: users.reading, date: today, rmssd: 55 },
          { authorization: `Bearer ${jwt.slice(0, -3)}abc` },
        )
      ).status,
      401,
    );
    assert.equal(
      (
        await postJson(
          `${stack.ingestUrl}/ingest/hrv`,
          { userId: users.linked, date: today, rmssd: 55 },
          { authorization: `Bearer ${jwt}` },
        )
      ).status,
      403,
    );
    const burst = await Promise.all(
      [1, 2, 3].map(() =>
        postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: users.reading, date: today, rmssd: 56 }, key),
      ),
    );
    assert.ok(
      burst.some((r) => r.status === 429),
      "rate limited",
    );
    // Past ingest's validation, straight onto the stream: dead-lettered as schema-invalid by normalize.
    await stack.js.publish(
      "athlete-ally.hrv.raw-received",
      JSON.stringify({
        eventId: `invalid-${tag}`,
        userId: users.invalid,
        date: "2025-13-45",
        rmssd: -1,
        receivedAt: new Date().toISOString(),
        raw,
      }),
    );
    await stack.js.publish(
      "athlete-ally.hrv.raw-received",
      `{"userId":"${users.invalid}","${payloadMarker}": not json`,
    );

    // Oura: a link completed in the wrong browser (refused), a forged link token, then a link (the URLs carry
    // the link token, the OAuth code and state), a document for the linked user, an unlinked user.
    const refusedToken = await linkToken(linkSecret, users.linked);
    const refused = await startLink(stack.normalizeUrl, refusedToken);
    assert.equal((await finishLink(await consent(fake, refused.authorize, ouraUsers.linked), undefined)).status, 403);
    const forgedToken = await linkToken(`${linkSecret}x`, users.linked);
    assert.equal(
      (await fetch(`${stack.normalizeUrl}/auth/oura/link?link_token=${forgedToken}`, { redirect: "manual" })).status,
      401,
    );
    const linked = await linkInBrowser(stack.normalizeUrl, fake, linkSecret, users.linked, ouraUsers.linked);
    assert.equal(linked.status, 200);
    callbackUrl = new URL(linked.callbackUrl);
    linkTokens = [refusedToken, forgedToken, linked.token];
    browserCookies = [refused.cookie, linked.cookie].map((c) => c.split("=")[1] ?? "(none)");
    fake.sleep.set(`doc-${tag}`, {
      id: `doc-${tag}`,
      day: "2025-10-02",
      type: "long_sleep",
      bedtime_start: "2025-10-01T23:10:00+02:00",
      bedtime_end: "2025-10-02T07:05:00+02:00",
      total_sleep_duration: 26_250,
      average_hrv: 48,
    });
    for (const [doc, ouraUser] of [
      [`doc-${tag}`, ouraUsers.linked],
      [`doc-unlinked-${tag}`, ouraUsers.unlinked],
    ] as const) {
      const body = sleepNotification(doc, ouraUser);
      assert.equal((await deliver(body, signed(body))).status, 202);
    }
    const forged = sleepNotification(`doc-forged-${tag}`, ouraUsers.unlinked);
    assert.equal((await deliver(forged, signed(forged, "not-the-secret"))).status, 401);

    await waitFor(
      async () => {
        const stored = await stack.db.pool.query(
          "SELECT 1 FROM hrv_data WHERE user_id IN ($1, $2) UNION ALL SELECT 1 FROM sleep_data WHERE user_id IN ($1, $2)",
          [users.reading, users.linked],
        );
        const seen = {
          rows: stored.rowCount,
          schemaInvalid: count("dead-lettered (schema_invalid)"),
          maxDeliver: count("dead-lettered (max_deliver)"),
          notLinked: count("dead-lettered (not_linked)"),
        };
        if (JSON.stringify(seen) === JSON.stringify({ rows: 4, schemaInvalid: 2, maxDeliver: 1, notLinked: 1 }))
          return true;
        throw new Error(`so far ${JSON.stringify(seen)}`);
      },
      { timeoutMs: 30_000, what: "readings stored, the invalid, rejected and unlinked messages dead-lettered" },
    );
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
  });

  test("the logs carry the expected records", () => {
    const normalize = stack.normalize!.messages();
    assert.ok(
      normalize.some((m) => m.includes("processing failed; redelivery")),
      "the database error was logged",
    );
    assert.ok(
      stack.normalize!.lines.some((l) => l.includes('"detail":"[Redacted]"')),
      "with its detail redacted",
    );
    assert.ok(stack.ingest!.messages().includes("[ingest] Oura webhook rejected"));
    assert.equal(
      stack.ingest!.messages().filter((m) => /^\[ingest\] request refused \((401|403)\)/.test(m)).length,
      4,
      "the three bad credentials and the out-of-scope user were logged (debug)",
    );
    const linked = stack
      .normalize!.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r.msg === "[normalize-oura] Oura account linked");
    assert.equal(linked?.userId, userIdHasher(HASH_KEY)(users.linked), "the linked user appears as its keyed hash");
  });

  test("no user id, payload, credential or token appears in either service's log", () => {
    const log = logOf();
    assert.ok(log.length > 20, `only ${log.length} lines`);
    const secrets: Record<string, string> = {
      ...users,
      ...ouraUsers,
      payloadMarker,
      databasePassword,
      webhookSecret,
      verificationToken,
      encryptionKey,
      logHashKey: HASH_KEY,
      // Prefixes: the refused requests sent the key and the JWT with their last characters changed.
      apiKeySecret: apiKey.split("_").slice(2).join("_").slice(0, 32),
      jwtSignature: jwt.split(".")[2]?.slice(0, 32) ?? "(none)",
      jwtSecret,
      linkSecret,
      ...Object.fromEntries(linkTokens.map((t, i) => [`linkToken${i}`, t.split(".").at(-1) ?? t])),
      ...Object.fromEntries(browserCookies.map((c, i) => [`browserCookie${i}`, c])),
      natsPassword,
      ouraClientSecret: fake.clientSecret,
      oauthCode: callbackUrl.searchParams.get("code") ?? "(none)",
      oauthState: callbackUrl.searchParams.get("state") ?? "(none)",
      ...Object.fromEntries(
        fake.issued.flatMap((t, i) => [
          [`accessToken${i}`, t.accessToken],
          [`refreshToken${i}`, t.refreshToken],
        ]),
      ),
    };
    for (const [what, secret] of Object.entries(secrets)) {
      const found = log.filter((line) => line.includes(secret));
      assert.deepEqual(found, [], `${what} (${secret}) is in the log`);
    }
  });
});
