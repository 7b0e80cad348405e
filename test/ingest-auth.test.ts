import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";
import { aaOps, serviceFlags, showRun } from "./helpers/cli.js";
import { freePort } from "./helpers/nats.js";
import { baseUrl, startService, type RunningService } from "./helpers/service.js";
import { openSocket, rawPost, readResponses } from "./helpers/raw-http.js";
import { createStack, getJson, postJson, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const ISSUER = "https://auth.test.example";
const AUDIENCE = "athlete-ally-ingest";
const HS_SECRET = "test-hs256-secret-0123456789abcdef0123456789";
const today = new Date().toISOString().slice(0, 10);

const reading = (userId: string, rmssd = 55) => ({ userId, date: today, rmssd });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface CreatedKey {
  keyId: string;
  token: string;
  state: string;
  userIds: string[] | null;
  expiresAt: string | null;
}

/** `keys create --json`; a key for every user (`--all-users`) unless `--users` is among `args`. */
async function createKey(stack: Stack, ...args: string[]): Promise<CreatedKey> {
  const scope = args.includes("--users") ? [] : ["--all-users"];
  const run = await aaOps(["keys", "create", "--json", ...scope, ...args], {
    DATABASE_URL: stack.db.url,
    DATABASE_SCHEMA: stack.db.schema,
  });
  assert.equal(run.code, 0, showRun(run));
  return JSON.parse(run.stdout) as CreatedKey;
}

const hsToken = (
  claims: Record<string, unknown>,
  options: { audience?: string; expiresIn?: string | number; secret?: string } = {},
) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject("bridge-service")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "5m")
    .sign(new TextEncoder().encode(options.secret ?? HS_SECRET));

/** An unsigned token (`alg: none`), which must never authenticate. */
function unsignedToken(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none", typ: "JWT" })}.${part({ iss: ISSUER, aud: AUDIENCE, sub: "mallory", iat: now, exp: now + 300 })}.`;
}

describe("ingest authentication, authorization and abuse limits", () => {
  let stack: Stack;
  let ingest: string;
  let rejected: () => Promise<string>;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize(); // applies the migrations, ingest_api_keys included
    await stack.startIngest({
      INGEST_AUTH_MODE: "api-key,jwt",
      INGEST_JWT_ISSUER: ISSUER,
      INGEST_JWT_AUDIENCE: AUDIENCE,
      INGEST_JWT_SECRET: HS_SECRET,
      API_KEY_REFRESH_MS: "300",
      AUTH_FAILURES_MAX: "1000",
      RATE_LIMIT_MAX: "20",
      RATE_LIMIT_WINDOW_MS: "10000",
      BODY_LIMIT_BYTES: "4096",
      REQUEST_TIMEOUT_MS: "1500",
    });
    ingest = `${stack.ingestUrl}/ingest/hrv`;
    rejected = async () =>
      (await (await fetch(`${stack.ingestUrl}/metrics`)).text())
        .split("\n")
        .filter((l) => l.startsWith("ingest_requests_rejected_total"))
        .join("\n");
  });
  after(async () => stack.close());

  /** Runs `send` and asserts it published nothing to the HRV subject. */
  async function publishesNothing<T>(send: () => Promise<T>): Promise<T> {
    const before = await streamMessages(stack.jsm, "AA_CORE_HOT", HRV);
    const result = await send();
    // A publish would have been acknowledged before the reply, so the count is final now.
    assert.equal(await streamMessages(stack.jsm, "AA_CORE_HOT", HRV), before, "nothing may be published");
    return result;
  }

  const rowCount = async (userId: string) =>
    Number((await stack.db.pool.query("SELECT count(*) AS n FROM hrv_data WHERE user_id = $1", [userId])).rows[0].n);

  test("no credentials: 401 that says how to authenticate and how to create a key; nothing published", async () => {
    const response = await publishesNothing(() => postJson(ingest, reading("auth-nobody")));
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="ingest"');
    assert.match(
      String(response.body.error),
      /^Authentication required\. Send an API key as 'Authorization: Bearer aak_…' or 'X-API-Key: aak_…' \(create one with: npx aa-ops keys create --name <name> --tenant <tenant>/,
    );
    assert.match(String(response.body.error), /or a JWT from the configured issuer/);
    // Authentication comes before the body is read: a stranger's oversized body is still a 401.
    assert.equal((await publishesNothing(() => postJson(ingest, { userId: "x".repeat(10_000) }))).status, 401);
  });

  test("bad API keys: malformed, unknown id, wrong secret, wrong scheme, two credentials → 401", async () => {
    const key = await createKey(stack, "--name", "bad-key-cases", "--tenant", "t1");
    const wrongSecret = `${key.token.slice(0, -4)}AAAA`;
    const unknownId = `aak_0000000000000000_${key.token.split("_").slice(2).join("_")}`;
    const cases: [string, Record<string, string>, RegExp][] = [
      ["malformed", bearer("aak_nope"), /malformed API key/],
      ["unknown id", bearer(unknownId), /unknown API key/],
      ["wrong secret", { "x-api-key": wrongSecret }, /unknown API key/],
      ["basic scheme", { authorization: "Basic dXNlcjpwYXNz" }, /use the Bearer scheme/],
      [
        "two credentials",
        { ...bearer(key.token), "x-api-key": key.token },
        /either X-API-Key or Authorization, not both/,
      ],
      // A credential in the wrong place is still a credential: the answer must never quote it.
      [
        "key without Bearer",
        { authorization: key.token },
        /got a value without a scheme \(an API key: put 'Bearer ' before it\)/,
      ],
      [
        "key under another scheme",
        { authorization: `Token ${key.token}` },
        /use the Bearer scheme \('Authorization: Bearer <credential>'\), got 'Token'/,
      ],
      [
        "secret as the scheme",
        { authorization: `${key.token} extra` },
        /use the Bearer scheme \('Authorization: Bearer <credential>'\), got another scheme/,
      ],
    ];
    const secret = key.token.split("_").slice(2).join("_");
    for (const [name, headers, message] of cases) {
      const response = await publishesNothing(() => postJson(ingest, reading("auth-bad"), headers));
      assert.equal(response.status, 401, name);
      assert.match(String(response.body.error), message, name);
      assert.ok(
        !JSON.stringify(response.body).includes(secret.slice(0, 20)),
        `${name}: the key's secret is quoted back: ${JSON.stringify(response.body)}`,
      );
    }
    assert.match(await rejected(), /ingest_requests_rejected_total\{reason="unauthenticated"\} ([6-9]|\d\d)/);
  });

  test("a key sent as Bearer or as X-API-Key is accepted and the reading is stored", async () => {
    const key = await createKey(stack, "--name", "good", "--tenant", "garmin-bridge");
    assert.equal(key.state, "active");
    assert.match(key.token, /^aak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal((await postJson(ingest, reading("auth-ok-1"), bearer(key.token))).status, 202);
    assert.equal((await postJson(ingest, reading("auth-ok-2", 60), { "x-api-key": key.token })).status, 202);
    await waitFor(async () => (await rowCount("auth-ok-1")) === 1 && (await rowCount("auth-ok-2")) === 1, {
      what: "both rows",
    });
    // The database holds only a hash: the secret part of the key is nowhere in the row.
    const { rows } = await stack.db.pool.query("SELECT * FROM ingest_api_keys WHERE key_id = $1", [key.keyId]);
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows[0]).includes(key.token.split("_").slice(2).join("_")));
  });

  test("keys create without --users or --all-users refuses, quoting both commands; nothing is created", async () => {
    const env = { DATABASE_URL: stack.db.url, DATABASE_SCHEMA: stack.db.schema };
    const keysBefore = (await stack.db.pool.query("SELECT count(*)::int AS n FROM ingest_api_keys")).rows[0]
      .n as number;
    const unscoped = await aaOps(
      ["keys", "create", "--name", "bridge (staging)", "--tenant", "t0", "--expires-in", "90d"],
      env,
    );
    assert.equal(unscoped.code, 2, showRun(unscoped));
    assert.match(
      unscoped.stderr,
      /^aa-ops: error: keys create needs the users the key may write for: --users <id>,<id> to allow only those, or --all-users for every user\. Run one of:$/m,
    );
    assert.match(
      unscoped.stderr,
      /^ {2}npx aa-ops keys create --name 'bridge \(staging\)' --tenant t0 --expires-in 90d --users a,b$/m,
    );
    assert.match(
      unscoped.stderr,
      /^ {2}npx aa-ops keys create --name 'bridge \(staging\)' --tenant t0 --expires-in 90d --all-users$/m,
    );
    const both = await aaOps(["keys", "create", "--name", "n", "--tenant", "t0", "--users", "u1", "--all-users"], env);
    assert.equal(both.code, 2, showRun(both));
    assert.match(both.stderr, /keys create takes --users <ids> or --all-users, not both/);
    const empty = await aaOps(["keys", "create", "--name", "n", "--tenant", "t0", "--users", " , "], env);
    assert.equal(empty.code, 2, showRun(empty));
    assert.match(empty.stderr, /--users needs at least one user id \(or --all-users for every user\)/);
    assert.equal(
      (await stack.db.pool.query("SELECT count(*)::int AS n FROM ingest_api_keys")).rows[0].n,
      keysBefore,
      "no key was created",
    );
    const everyone = await createKey(stack, "--name", "everyone", "--tenant", "t0");
    assert.equal(everyone.userIds, null, "--all-users: no user scope");
    assert.equal((await postJson(ingest, reading("auth-all-users"), bearer(everyone.token))).status, 202);
  });

  test("a key scoped to user ids: 403 for another user (single and batch), nothing published", async () => {
    const key = await createKey(stack, "--name", "scoped", "--tenant", "t2", "--users", "auth-u1,auth-u2");
    assert.deepEqual(key.userIds, ["auth-u1", "auth-u2"]);
    const single = await publishesNothing(() => postJson(ingest, reading("auth-u3"), bearer(key.token)));
    assert.equal(single.status, 403);
    assert.match(
      String(single.body.error),
      /scoped to 2 user id\(s\) and may not write data for "auth-u3"; nothing was accepted/,
    );
    assert.deepEqual(single.body.details, [
      { field: "userId", message: `key:${key.keyId} may not write data for user "auth-u3"` },
    ]);
    const batch = await publishesNothing(() =>
      postJson(
        `${ingest}/batch`,
        { items: [reading("auth-u1"), reading("auth-u9"), reading("auth-u2")] },
        bearer(key.token),
      ),
    );
    assert.equal(batch.status, 403);
    assert.deepEqual(
      (batch.body.details as { field: string }[]).map((d) => d.field),
      ["items[1].userId"],
    );
    assert.equal(
      (await postJson(`${ingest}/batch`, { items: [reading("auth-u1"), reading("auth-u2")] }, bearer(key.token)))
        .status,
      202,
    );
    await waitFor(async () => (await rowCount("auth-u1")) === 1 && (await rowCount("auth-u2")) === 1, {
      what: "in-scope rows",
    });
    assert.equal(await rowCount("auth-u9"), 0);
    assert.equal(await rowCount("auth-u3"), 0);
  });

  test("revoked and expired keys are refused with the reason; keys list shows their state and never the key", async () => {
    const revoked = await createKey(stack, "--name", "to-revoke", "--tenant", "t3");
    const expiring = await createKey(stack, "--name", "short-lived", "--tenant", "t3", "--expires-in", "1s");
    assert.equal((await postJson(ingest, reading("auth-rev"), bearer(revoked.token))).status, 202);
    const env = { DATABASE_URL: stack.db.url, DATABASE_SCHEMA: stack.db.schema };
    const revoke = await aaOps(["keys", "revoke", revoked.keyId], env);
    assert.equal(revoke.code, 0, showRun(revoke));
    assert.match(revoke.stdout, new RegExp(`Revoked API key ${revoked.keyId} \\(to-revoke, tenant t3\\)`));
    // Ingest reloads keys every API_KEY_REFRESH_MS (300 ms here).
    const refused = await waitFor(
      async () => {
        const response = await postJson(ingest, reading("auth-rev"), bearer(revoked.token));
        return response.status === 401 ? response : undefined;
      },
      { timeoutMs: 5_000, what: "revoked key refused" },
    );
    assert.match(String(refused.body.error), new RegExp(`API key ${revoked.keyId} was revoked at 20`));
    // Expiry is checked on every request, with no reload needed.
    await new Promise((resolve) => setTimeout(resolve, Date.parse(String(expiring.expiresAt)) - Date.now() + 50));
    const expired = await publishesNothing(() => postJson(ingest, reading("auth-exp"), bearer(expiring.token)));
    assert.equal(expired.status, 401);
    assert.match(String(expired.body.error), new RegExp(`API key ${expiring.keyId} expired at 20`));

    const list = await aaOps(["keys", "list", "--json"], env);
    assert.equal(list.code, 0, showRun(list));
    const states = Object.fromEntries((JSON.parse(list.stdout) as CreatedKey[]).map((k) => [k.keyId, k.state]));
    assert.equal(states[revoked.keyId], "revoked");
    assert.equal(states[expiring.keyId], "expired");
    assert.ok(!list.stdout.includes(revoked.token) && !list.stdout.includes("secret"), "keys list never shows a key");
    const missing = await aaOps(["keys", "revoke", "0123456789abcdef"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr + missing.stdout, /no API key 0123456789abcdef/);
  });

  test("HS256 JWTs: valid accepted; wrong audience, wrong key, expired, alg none refused; user_ids claim scopes", async () => {
    assert.equal(
      (await postJson(ingest, reading("auth-jwt-1"), bearer(await hsToken({ all_users: true })))).status,
      202,
    );
    const cases: [string, string, RegExp][] = [
      ["wrong audience", await hsToken({}, { audience: "someone-else" }), /invalid JWT: unexpected "aud" claim value/],
      [
        "wrong key",
        await hsToken({}, { secret: "another-secret-0123456789abcdef0123456789" }),
        /invalid JWT: signature verification failed/,
      ],
      [
        "expired",
        await hsToken({}, { expiresIn: Math.floor(Date.now() / 1000) - 120 }),
        /invalid JWT: "exp" claim timestamp check failed/,
      ],
      ["alg none", unsignedToken(), /invalid JWT/],
      ["not a JWT", "definitely-not-a-token", /invalid JWT/],
    ];
    for (const [name, token, message] of cases) {
      const response = await publishesNothing(() => postJson(ingest, reading("auth-jwt-bad"), bearer(token)));
      assert.equal(response.status, 401, name);
      assert.match(String(response.body.error), message, name);
    }
    const scoped = await hsToken({ user_ids: ["auth-jwt-2"] });
    assert.equal((await publishesNothing(() => postJson(ingest, reading("auth-jwt-3"), bearer(scoped)))).status, 403);
    assert.equal((await postJson(ingest, reading("auth-jwt-2"), bearer(scoped))).status, 202);
    await waitFor(async () => (await rowCount("auth-jwt-1")) === 1 && (await rowCount("auth-jwt-2")) === 1, {
      what: "JWT rows",
    });
    assert.equal(await rowCount("auth-jwt-bad"), 0);
  });

  test("a JWT without user_ids or all_users is refused naming both claims; nothing published", async () => {
    const token = await hsToken({});
    const reply = await publishesNothing(() => postJson(ingest, reading("auth-jwt-unscoped"), bearer(token)));
    assert.equal(reply.status, 401, JSON.stringify(reply.body));
    assert.match(
      String(reply.body.error),
      /invalid JWT: the token must say which users it may write for: a user_ids claim \(a non-empty array of user ids\) or all_users: true/,
    );
  });

  test("a JWT whose sub names an API key's tenant is another source: it cannot pass for that key's readings", async () => {
    // The key of tenant bridge-service and a JWT with sub bridge-service send the same eventId for the same user.
    const key = await createKey(stack, "--name", "bridge", "--tenant", "bridge-service");
    const eventId = "shared-event-id-1";
    const fromKey = await postJson(ingest, { ...reading("auth-ns"), eventId }, bearer(key.token));
    assert.equal(fromKey.status, 202, JSON.stringify(fromKey.body));
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const jwt = await hsToken({ all_users: true });
    const fromJwt = await postJson(ingest, { ...reading("auth-ns"), date: yesterday, eventId }, bearer(jwt));
    assert.equal(fromJwt.status, 202, JSON.stringify(fromJwt.body));
    assert.equal(fromJwt.body.duplicate, undefined, "not taken for the key's reading");
    const sources = async () =>
      (await stack.db.pool.query("SELECT source FROM hrv_data WHERE user_id = 'auth-ns' ORDER BY source", [])).rows.map(
        (r) => r.source as string,
      );
    await waitFor(async () => (await sources()).length === 2, { what: "both readings stored" });
    assert.deepEqual(await sources(), [`jwt:${ISSUER}#bridge-service`, "tenant:bridge-service"]);
  });

  test("rate limit per credential: 429 with Retry-After past the limit; another credential is unaffected", async () => {
    const busy = await createKey(stack, "--name", "busy", "--tenant", "t4");
    const calm = await createKey(stack, "--name", "calm", "--tenant", "t4");
    const before = await streamMessages(stack.jsm, "AA_CORE_HOT", HRV);
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => postJson(ingest, reading(`auth-rl-${i}`), bearer(busy.token))),
    );
    const accepted = responses.filter((r) => r.status === 202).length;
    const limited = responses.filter((r) => r.status === 429);
    assert.equal(accepted + limited.length, 30, `statuses: ${responses.map((r) => r.status).join(",")}`);
    assert.equal(accepted, 20, "RATE_LIMIT_MAX=20 per 10 s window");
    assert.ok(Number(limited[0]?.headers.get("retry-after")) > 0, "Retry-After in seconds");
    assert.match(
      String(limited[0]?.body.error),
      /^Rate limit exceeded: at most 20 requests per 10 s per credential; retry in /,
    );
    assert.equal(
      await streamMessages(stack.jsm, "AA_CORE_HOT", HRV),
      before + 20,
      "only the accepted requests were published",
    );
    assert.equal((await postJson(ingest, reading("auth-rl-calm"), bearer(calm.token))).status, 202);
    assert.match(await rejected(), /ingest_requests_rejected_total\{reason="rate_limited"\} 10/);
  });

  test("rate limit counts readings: a batch spends one per reading, a refused one spends nothing, one over the limit is told to split", async () => {
    const key = await createKey(stack, "--name", "batcher", "--tenant", "t4");
    const limitedSoFar = async () =>
      Number(/ingest_requests_rejected_total\{reason="rate_limited"\} (\d+)/.exec(await rejected())?.[1]);
    const before = await limitedSoFar();
    const batch = (tag: string, n: number) => ({
      items: Array.from({ length: n }, (_, i) => reading(`auth-batch-${tag}-${i}`)),
    });
    assert.equal((await postJson(`${ingest}/batch`, batch("a", 15), bearer(key.token))).status, 202);
    const over = await publishesNothing(() => postJson(`${ingest}/batch`, batch("b", 6), bearer(key.token)));
    assert.equal(over.status, 429, "15 + 6 readings > RATE_LIMIT_MAX=20");
    assert.ok(Number(over.headers.get("retry-after")) > 0, "Retry-After in seconds");
    assert.match(
      String(over.body.error),
      /^Rate limit exceeded: at most 20 requests per 10 s per credential, each reading of a batch counting as one \(this batch: 6\); retry in \d+ s$/,
    );
    assert.deepEqual(over.body.details, [
      { field: "(credential)", message: String(over.body.error).replace("Rate limit exceeded: ", "") },
    ]);
    assert.equal(
      (await postJson(`${ingest}/batch`, batch("c", 5), bearer(key.token))).status,
      202,
      "the refused batch spent nothing",
    );
    assert.equal(
      (await publishesNothing(() => postJson(ingest, reading("auth-batch-d"), bearer(key.token)))).status,
      429,
      "20 readings spent",
    );
    const other = await createKey(stack, "--name", "big-batcher", "--tenant", "t4");
    const tooBig = await publishesNothing(() => postJson(`${ingest}/batch`, batch("e", 21), bearer(other.token)));
    assert.equal(tooBig.status, 429);
    assert.match(String(tooBig.body.error), /this batch of 21 can never fit: split it$/);
    assert.equal(await limitedSoFar(), before + 3);
  });

  test("limits on size: 413 for a body over BODY_LIMIT_BYTES, 431 for oversized headers, 400 for deep nesting; nothing published", async () => {
    const key = await createKey(stack, "--name", "limits", "--tenant", "t5");
    const tooLarge = await publishesNothing(() =>
      postJson(ingest, { ...reading("auth-big"), raw: { blob: "x".repeat(5_000) } }, bearer(key.token)),
    );
    assert.equal(tooLarge.status, 413);
    assert.match(String(tooLarge.body.error), /Request body is too large/);
    const bigHeaders = await publishesNothing(() =>
      fetch(ingest, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(key.token), "x-padding": "p".repeat(20_000) },
        body: JSON.stringify(reading("auth-hdr")),
      }),
    );
    assert.equal(bigHeaders.status, 431);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const nested = await publishesNothing(() =>
      postJson(ingest, { ...reading("auth-deep"), raw: deep }, bearer(key.token)),
    );
    assert.equal(nested.status, 400);
  });

  test("limits on time: a body trickled past REQUEST_TIMEOUT_MS gets 408 and its connection closes; nothing published", async () => {
    const key = await createKey(stack, "--name", "slow", "--tenant", "t6");
    const body = JSON.stringify(reading("auth-slow"));
    const response = await publishesNothing(async () => {
      const socket = await openSocket(Number(new URL(stack.ingestUrl).port));
      socket.write(
        `${rawPost("/ingest/hrv", Buffer.byteLength(body), `Authorization: Bearer ${key.token}\r\n`)}${body.slice(0, 10)}`,
      );
      const dripping = setInterval(() => socket.writable && socket.write(" "), 300);
      const answer = await readResponses(socket, 6_000);
      clearInterval(dripping);
      socket.destroy();
      return answer;
    });
    assert.match(response.text, /^HTTP\/1\.1 408 /);
    assert.equal(response.closed, true);
  });

  test("aa-ops verify sends INGEST_API_KEY with its probe, and says how to get one when it is missing", async () => {
    const args = [
      "verify",
      ...serviceFlags(stack),
      "--database-url",
      stack.db.url,
      "--database-schema",
      stack.db.schema,
    ];
    const without = await aaOps(args);
    assert.equal(without.code, 1, showRun(without));
    assert.match(without.stdout, /INGEST_API_KEY is not set: ingest wants credentials/);
    assert.match(without.stdout, /export INGEST_API_KEY=\$\(npx aa-ops keys create --name verify/);
    const key = await createKey(stack, "--name", "verify", "--tenant", "platform-ops");
    const withKey = await aaOps(args, { INGEST_API_KEY: key.token });
    assert.equal(withKey.code, 0, showRun(withKey));
  });

  test("health and metrics stay unauthenticated", async () => {
    assert.equal((await getJson(`${stack.ingestUrl}/health`)).status, 200);
    assert.equal((await fetch(`${stack.ingestUrl}/metrics`)).status, 200);
  });
});

describe("ingest auth configuration, JWKS keys, admin port, proxies and load shedding", () => {
  let stack: Stack;
  let dir: string;
  let jwks: Server;
  const started: RunningService[] = [];
  const rsa = generateKeyPair("RS256");
  const ec = generateKeyPair("ES256");

  async function start(env: Record<string, string>): Promise<{ service: RunningService; url: string }> {
    const port = String(await freePort());
    const service = startService("ingest", { ...stack.env, PORT: port, ...env });
    started.push(service);
    await service.waitForLog("[ingest] Listening on");
    return { service, url: baseUrl(port) };
  }

  async function publicJwks(): Promise<{ keys: JWK[] }> {
    const keys = await Promise.all(
      [rsa, ec].map(async (pair, i) => ({
        ...(await exportJWK((await pair).publicKey)),
        kid: `k${i}`,
        alg: i === 0 ? "RS256" : "ES256",
        use: "sig",
      })),
    );
    return { keys };
  }

  const signed = async (alg: "RS256" | "ES256", kid: string, audience = AUDIENCE) =>
    new SignJWT({ tenant: "acme", all_users: true })
      .setProtectedHeader({ alg, kid })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setSubject("acme-sync")
      .setExpirationTime("5m")
      .sign((await (alg === "RS256" ? rsa : ec)).privateKey);

  before(async () => {
    stack = await createStack({ mode: "multi" });
    dir = mkdtempSync(join(tmpdir(), "aa-ingest-auth-"));
    const body = JSON.stringify(await publicJwks());
    jwks = createServer((_request, response) =>
      response.writeHead(200, { "content-type": "application/json" }).end(body),
    );
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    writeFileSync(join(dir, "jwks.json"), body);
  });
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
    jwks.close();
    rmSync(dir, { recursive: true, force: true });
    await stack.close();
  });

  test("RS256 and ES256 JWTs verified against a JWKS URL and a JWKS file; an RS256 key cannot be used as an HS256 secret", async () => {
    const address = jwks.address() as { port: number };
    const fromUrl = await start({
      INGEST_AUTH_MODE: "jwt",
      INGEST_JWT_ISSUER: ISSUER,
      INGEST_JWT_AUDIENCE: AUDIENCE,
      INGEST_JWT_JWKS_URL: `http://127.0.0.1:${address.port}/jwks.json`,
    });
    const fromFile = await start({
      INGEST_AUTH_MODE: "jwt",
      INGEST_JWT_ISSUER: ISSUER,
      INGEST_JWT_AUDIENCE: AUDIENCE,
      INGEST_JWT_JWKS_FILE: join(dir, "jwks.json"),
    });
    for (const { url } of [fromUrl, fromFile]) {
      assert.equal(
        (await postJson(`${url}/ingest/hrv`, reading("jwks-rs"), bearer(await signed("RS256", "k0")))).status,
        202,
      );
      assert.equal(
        (await postJson(`${url}/ingest/hrv`, reading("jwks-es"), bearer(await signed("ES256", "k1")))).status,
        202,
      );
      const wrongAudience = await postJson(
        `${url}/ingest/hrv`,
        reading("jwks-aud"),
        bearer(await signed("ES256", "k1", "other")),
      );
      assert.equal(wrongAudience.status, 401);
      // HS256 signed with the RSA public key's JWK text: the classic algorithm-confusion attack.
      const confused = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256", kid: "k0" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject("x")
        .setExpirationTime("5m")
        .sign(new TextEncoder().encode(JSON.stringify((await publicJwks()).keys[0])));
      const refused = await postJson(`${url}/ingest/hrv`, reading("jwks-confused"), bearer(confused));
      assert.equal(refused.status, 401);
      assert.match(String(refused.body.error), /"alg" \(Algorithm\) Header Parameter value not allowed/);
      const apiKey = await postJson(
        `${url}/ingest/hrv`,
        reading("jwks-key"),
        bearer(`aak_0123456789abcdef_${"A".repeat(43)}`),
      );
      assert.match(String(apiKey.body.error), /API keys are not accepted here/);
    }
  });

  test("configuration mistakes stop ingest with a message that says what to set", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ INGEST_AUTH_MODE: "password" }, /INGEST_AUTH_MODE must be api-key, jwt, api-key,jwt or none, got "password"/],
      [
        { INGEST_AUTH_MODE: "jwt", INGEST_JWT_AUDIENCE: AUDIENCE, INGEST_JWT_SECRET: HS_SECRET },
        /INGEST_JWT_ISSUER must be set/,
      ],
      [
        { INGEST_AUTH_MODE: "jwt", INGEST_JWT_ISSUER: ISSUER, INGEST_JWT_AUDIENCE: AUDIENCE },
        /set exactly one of INGEST_JWT_SECRET \(HS256\), INGEST_JWT_JWKS_FILE or INGEST_JWT_JWKS_URL/,
      ],
      [
        { INGEST_AUTH_MODE: "api-key", INGEST_JWT_SECRET: HS_SECRET },
        /INGEST_JWT_SECRET set but INGEST_AUTH_MODE=api-key does not accept JWTs: set INGEST_AUTH_MODE=api-key,jwt/,
      ],
      [
        {
          INGEST_AUTH_MODE: "jwt",
          INGEST_JWT_ISSUER: ISSUER,
          INGEST_JWT_AUDIENCE: AUDIENCE,
          INGEST_JWT_SECRET: "short",
        },
        /INGEST_JWT_SECRET must NOT have fewer than 32 characters/,
      ],
      // Plain http lets anyone on the path swap the key set, and with it sign any token.
      [
        {
          INGEST_AUTH_MODE: "jwt",
          INGEST_JWT_ISSUER: ISSUER,
          INGEST_JWT_AUDIENCE: AUDIENCE,
          INGEST_JWT_JWKS_URL: "http://auth.test.example/jwks.json",
        },
        /INGEST_JWT_JWKS_URL must be an https:\/\/ URL .*http:\/\/ is accepted for loopback only/,
      ],
      [
        {
          INGEST_AUTH_MODE: "jwt",
          INGEST_JWT_ISSUER: ISSUER,
          INGEST_JWT_AUDIENCE: AUDIENCE,
          INGEST_JWT_JWKS_URL: "http://127.0.0.1.nip.io/jwks.json",
        },
        /INGEST_JWT_JWKS_URL must be an https:\/\/ URL/,
      ],
    ];
    await Promise.all(
      cases.map(async ([env, message]) => {
        const service = startService("ingest", { ...stack.env, PORT: String(await freePort()), ...env });
        started.push(service);
        assert.equal(await service.exited, 1);
        assert.ok(
          service.messages().some((m) => message.test(m)),
          `${message}\n${service.messages().join("\n")}`,
        );
      }),
    );
  });

  test("INGEST_AUTH_MODE=none warns at startup; X-Forwarded-For counts only from a trusted proxy", async () => {
    const limits = { INGEST_AUTH_MODE: "none", RATE_LIMIT_MAX: "3", RATE_LIMIT_WINDOW_MS: "60000" };
    const direct = await start({ ...limits, TRUST_PROXY: "false" });
    const proxied = await start({ ...limits, TRUST_PROXY: "127.0.0.1" });
    await direct.service.waitForLog(/INGEST_AUTH_MODE=none: \/ingest\/\* accepts requests WITHOUT authentication/);
    const burst = (url: string) =>
      Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          postJson(`${url}/ingest/hrv`, reading(`xff-${i}`), { "x-forwarded-for": `203.0.113.${i + 1}` }),
        ),
      );
    // Untrusted: every request is the socket's 127.0.0.1, one budget of 3.
    assert.deepEqual((await burst(direct.url)).map((r) => r.status).sort(), [202, 202, 202, 429, 429]);
    // Trusted proxy: each forwarded client has its own budget.
    assert.deepEqual(
      (await burst(proxied.url)).map((r) => r.status),
      [202, 202, 202, 202, 202],
    );
  });

  test("ADMIN_PORT serves /health and /metrics apart from the client port", async () => {
    const adminPort = String(await freePort());
    const { url } = await start({ INGEST_AUTH_MODE: "none", ADMIN_PORT: adminPort, ADMIN_HOST: "127.0.0.1" });
    const admin = baseUrl(adminPort);
    assert.deepEqual((await getJson(`${admin}/health`)).body, {
      status: "healthy",
      service: "ingest",
      eventBus: "connected",
    });
    assert.match(await (await fetch(`${admin}/metrics`)).text(), /ingest_requests_rejected_total/);
    // The runbook curls /health on the client port: it answers there too. /metrics says where it went.
    assert.deepEqual((await getJson(`${url}/health`)).body, {
      status: "healthy",
      service: "ingest",
      eventBus: "connected",
    });
    const moved = await fetch(`${url}/metrics`);
    assert.equal(moved.status, 404);
    assert.match(
      ((await moved.json()) as { error: string }).error,
      new RegExp(`served on port ${adminPort} \\(ADMIN_PORT\\).*curl http://127\\.0\\.0\\.1:${adminPort}/metrics`),
    );
    assert.equal((await postJson(`${admin}/ingest/hrv`, reading("admin-x"))).status, 404);
    assert.equal((await postJson(`${url}/ingest/hrv`, reading("admin-ok"))).status, 202);
  });

  test("under event-loop pressure ingest sheds load with 503 + Retry-After while /health answers", async () => {
    // The mean lag over a 1 s sample: a 4 s stall among ~100 on-time 10 ms ticks is ≥ 29 ms, far over 5.
    const { service, url } = await start({ INGEST_AUTH_MODE: "none", MAX_EVENT_LOOP_DELAY_MS: "5" });
    await waitFor(async () => (await postJson(`${url}/ingest/hrv`, reading("shed-before"))).status === 202, {
      what: "accepting before the stall",
    });
    // Stopping the process is what a CPU-starved or GC-stalled pod looks like to its event loop.
    const pid = service.process.pid as number;
    process.kill(pid, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    process.kill(pid, "SIGCONT");
    const shed = await waitFor(
      async () => {
        const response = await postJson(`${url}/ingest/hrv`, reading("shed-during"));
        if (response.status === 503)
          assert.equal((await getJson(`${url}/health`)).status, 200, "/health must answer under pressure");
        return response.status === 503 ? response : undefined;
      },
      { timeoutMs: 3_000, intervalMs: 20, what: "a shed request" },
    );
    assert.equal(shed.headers.get("retry-after"), "5");
    assert.match(String(shed.body.error), /^Overloaded \(eventLoopDelay \d+ ms\): the request was not accepted/);
    await waitFor(async () => (await postJson(`${url}/ingest/hrv`, reading("shed-after"))).status === 202, {
      what: "recovery",
    });
  });
});
