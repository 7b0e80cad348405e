import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { decodeJwt, UnsecuredJWT } from "jose";
import { linkTokenVerifier, mintLinkToken } from "@aa/oura";
import { aaOps, showRun } from "./helpers/cli.js";
import { APP_RETURN_URL, normalizeOuraEnv, startFakeOura, type FakeOura } from "./helpers/fake-oura.js";
import { freePort } from "./helpers/nats.js";
import {
  BROWSER_COOKIE,
  consent,
  completionOf,
  confirmInApp,
  finishAndConfirm,
  finishLink,
  LINK_AUDIENCE,
  linkInBrowser,
  linkToken,
  startLink,
} from "./helpers/oura-link.js";
import { baseUrl, startService } from "./helpers/service.js";
import { createStack, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const KEY = randomBytes(32).toString("base64");
const SECRET = `link-secret-${randomBytes(16).toString("hex")}`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("link tokens (@aa/oura, pure)", () => {
  test("a minted token carries the documented claims and verifies; other secrets, users and lifetimes do not", async () => {
    const token = await mintLinkToken(SECRET, "athlete-unit", 300);
    const claims = decodeJwt(token);
    assert.deepEqual(
      [claims.sub, claims.aud, (claims.exp ?? 0) - (claims.iat ?? 0)],
      ["athlete-unit", LINK_AUDIENCE, 300],
    );
    const verified = await linkTokenVerifier(SECRET)(token);
    assert.ok(verified.ok);
    assert.deepEqual([verified.claims.userId, verified.claims.tokenId], ["athlete-unit", claims.jti]);
    assert.equal(verified.claims.expiresAt.getTime(), (claims.exp ?? 0) * 1000);
    assert.equal((await linkTokenVerifier(`${SECRET}-other`)(token)).ok, false);
    await assert.rejects(mintLinkToken(SECRET, "athlete-unit", 601), /a link token lives 1 to 600 seconds, got 601/);
    await assert.rejects(mintLinkToken(SECRET, ""), /not a valid user id/);
    await assert.rejects(mintLinkToken("short", "athlete-unit"), /at least 32 characters/);
    assert.throws(() => linkTokenVerifier("short"), /at least 32 characters/);
  });
});

/** Who may link an Oura account to which user, from which browser, how often. */
describe("Oura account linking is authenticated, browser-bound, never a silent replacement, rate limited", () => {
  let stack: Stack;
  let fake: FakeOura;
  let ouraEnv: Record<string, string>;

  before(async () => {
    fake = await startFakeOura();
    stack = await createStack({ mode: "multi" });
    ouraEnv = normalizeOuraEnv(fake, stack.normalizeUrl, KEY);
    await stack.startNormalize({ ...ouraEnv, OURA_LINK_TOKEN_SECRET: SECRET, OURA_LINK_RATE_LIMIT_MAX: "0" });
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
  });

  const count = async (table: string) =>
    (await stack.db.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;
  const account = async (userId: string) =>
    (
      await stack.db.pool.query("SELECT oura_user_id, access_token, updated_at FROM oura_accounts WHERE user_id = $1", [
        userId,
      ])
    ).rows[0] as { oura_user_id: string; access_token: Buffer; updated_at: Date } | undefined;
  const linkUrl = (query: string) => `${stack.normalizeUrl}/auth/oura/link?${query}`;
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const reply = await fetch(url, { redirect: "manual", headers });
    return { status: reply.status, body: (await reply.json()) as Record<string, unknown>, headers: reply.headers };
  };

  test("anonymous or forged callers get 401 naming the problem, and nothing is stored", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = new UnsecuredJWT({ aud: LINK_AUDIENCE, jti: "unsigned-jti-1" })
      .setSubject("victim")
      .setIssuedAt()
      .setExpirationTime("5m")
      .encode();
    const cases: [string, string, RegExp][] = [
      [
        "the old userId parameter alone",
        "userId=victim",
        /link token is required.*userId parameter is no longer accepted/,
      ],
      ["nothing", "", /link token is required/],
      [
        "signed with another secret",
        `link_token=${await linkToken(`x${SECRET}`, "victim")}`,
        /Invalid link token: signature verification failed/,
      ],
      [
        "another audience",
        `link_token=${await linkToken(SECRET, "victim", { aud: "athlete-ally:ingest" })}`,
        /Invalid link token: .*aud/,
      ],
      [
        "expired",
        `link_token=${await linkToken(SECRET, "victim", { iat: now - 700, exp: now - 100 })}`,
        /Invalid link token: .*exp/,
      ],
      [
        "valid for an hour",
        `link_token=${await linkToken(SECRET, "victim", { exp: now + 3_600 })}`,
        /Invalid link token: the token lives 3600 s; at most 600 s/,
      ],
      ["alg none", `link_token=${unsigned}`, /Invalid link token/],
      [
        "HS512 (algorithm pinned to HS256)",
        `link_token=${await linkToken(SECRET, "victim", {}, "HS512")}`,
        /Invalid link token: .*alg/,
      ],
      ["no jti", `link_token=${await linkToken(SECRET, "victim", { jti: undefined })}`, /Invalid link token: .*jti/],
      ["not a JWT", "link_token=not-a-token", /Invalid link token/],
    ];
    for (const [what, query, message] of cases) {
      const reply = await get(linkUrl(query));
      assert.equal(reply.status, 401, `${what}: ${JSON.stringify(reply.body)}`);
      assert.match(String(reply.body.error), message, what);
      assert.equal(reply.headers.get("set-cookie"), null, `${what}: no cookie`);
    }
    assert.deepEqual(
      [await count("oura_link_states"), await count("oura_link_tokens_used")],
      [0, 0],
      "an anonymous call writes no row",
    );
  });

  test("a link token links its own subject (a userId parameter is ignored) and starts one link only", async () => {
    const token = await linkToken(SECRET, "athlete-token");
    const started = await startLink(stack.normalizeUrl, token, "&userId=victim");
    const reused = await get(linkUrl(`link_token=${encodeURIComponent(token)}`));
    assert.equal(reused.status, 401);
    assert.match(String(reused.body.error), /already used/);
    assert.equal(await count("oura_link_states"), 1, "the reuse stored no second state");
    const finished = await finishLink(await consent(fake, started.authorize, "oura-token"), started.cookie);
    const done = await finishAndConfirm(stack.normalizeUrl, SECRET, "athlete-token", finished);
    assert.deepEqual([done.status, done.body], [200, { status: "linked", userId: "athlete-token" }]);
    assert.equal((await account("athlete-token"))?.oura_user_id, "oura-token");
    assert.equal(await account("victim"), undefined);
  });

  test("a used link token stays used through the verifier's clock tolerance after exp", async () => {
    // exp 5 s ago: the verifier still accepts it (30 s tolerance), so its used-marker must still be there.
    const now = Math.floor(Date.now() / 1000);
    const token = await linkToken(SECRET, "athlete-late", { iat: now - 120, exp: now - 5 });
    await startLink(stack.normalizeUrl, token);
    const again = await get(linkUrl(`link_token=${encodeURIComponent(token)}`));
    assert.equal(again.status, 401, JSON.stringify(again.body));
    assert.match(String(again.body.error), /already used/);
    const kept = await stack.db.pool.query(
      "SELECT expires_at > now() AS kept FROM oura_link_tokens_used WHERE user_id = 'athlete-late'",
    );
    assert.deepEqual(kept.rows, [{ kept: true }], "the marker outlives exp");
  });

  test("the state is bound to the starting browser by a __Host- HttpOnly SameSite cookie, stored only hashed", async () => {
    const started = await startLink(stack.normalizeUrl, await linkToken(SECRET, "athlete-cookie"));
    const attributes = started.setCookie.split(";").map((a) => a.trim());
    assert.equal(attributes[0]?.startsWith(`${BROWSER_COOKIE}=`), true);
    assert.deepEqual(
      attributes.slice(1).sort(),
      ["HttpOnly", "Max-Age=600", "Path=/", "SameSite=Lax", "Secure"],
      "no Domain: __Host- rules",
    );
    const value = started.cookie.slice(BROWSER_COOKIE.length + 1);
    assert.ok(value.length >= 43, "at least 32 random bytes");
    const stored = (
      await stack.db.pool.query("SELECT browser_hash FROM oura_link_states WHERE user_id = 'athlete-cookie'")
    ).rows;
    assert.deepEqual(stored, [{ browser_hash: sha256(value) }]);

    const done = await finishLink(await consent(fake, started.authorize, "oura-cookie"), started.cookie);
    assert.equal(done.status, 303, JSON.stringify(done.body));
    assert.ok(
      done.setCookie.some((c) => c.startsWith(`${BROWSER_COOKIE}=;`) && c.includes("Max-Age=0")),
      "the callback clears the cookie",
    );
  });

  test("a consent URL completed in another browser is refused (403), links nothing, and the state is burnt", async () => {
    // The attacker starts a link for their own user and sends the consent page to the victim.
    const attacker = await startLink(stack.normalizeUrl, await linkToken(SECRET, "attacker"));
    const victimCallback = await consent(fake, attacker.authorize, "oura-victim");
    const withoutCookie = await finishLink(victimCallback, undefined);
    assert.equal(withoutCookie.status, 403);
    assert.match(
      String(withoutCookie.body.error),
      new RegExp(`started in another browser \\(cookie ${BROWSER_COOKIE} missing or different\\)`),
    );
    assert.equal(await account("attacker"), undefined, "the victim's Oura account is not linked to the attacker");
    assert.equal(
      (await finishLink(victimCallback, attacker.cookie)).status,
      400,
      "the state cannot be used again, even with the right cookie",
    );

    const other = await startLink(stack.normalizeUrl, await linkToken(SECRET, "someone-else"));
    const second = await startLink(stack.normalizeUrl, await linkToken(SECRET, "attacker"));
    const wrongCookie = await finishLink(await consent(fake, second.authorize, "oura-victim"), other.cookie);
    assert.equal(wrongCookie.status, 403, "another browser's cookie does not match");
    assert.equal(await account("attacker"), undefined);
  });

  test("a link URL opened in the victim's browser links nothing: the app confirms for its own signed-in user (403)", async () => {
    // The attacker mints a link token for her own account and sends the victim the /auth/oura/link URL. The
    // victim's browser starts the link (the cookie is the victim's), approves at Oura and comes back: the cookie
    // check passes. Only the app, where the victim is signed in, can tell the two people apart.
    const victimBrowser = await startLink(stack.normalizeUrl, await linkToken(SECRET, "attacker-2"));
    const back = await finishLink(await consent(fake, victimBrowser.authorize, "oura-of-victim"), victimBrowser.cookie);
    assert.equal(back.status, 303, `nothing is linked at the callback: ${JSON.stringify(back.body)}`);
    assert.equal(back.location.startsWith(`${APP_RETURN_URL}&oura_link_completion=`), true, back.location);
    assert.equal(await account("attacker-2"), undefined, "not linked before the app confirms");
    const completion = completionOf(back);

    const confirmed = await confirmInApp(stack.normalizeUrl, SECRET, "victim-2", completion);
    assert.equal(confirmed.status, 403, JSON.stringify(confirmed.body));
    assert.match(String(confirmed.body.error), /started for another user than the one signed in to the app/);
    assert.deepEqual([await account("attacker-2"), await account("victim-2")], [undefined, undefined]);
    const retried = await confirmInApp(stack.normalizeUrl, SECRET, "attacker-2", completion);
    assert.equal(retried.status, 400, "the refused link is burnt: not even its own user can confirm it later");
    assert.equal(await account("attacker-2"), undefined);
    const held = await stack.db.pool.query(
      "SELECT count(*)::int AS n FROM oura_link_pending WHERE user_id = 'attacker-2'",
    );
    assert.equal(held.rows[0].n, 0, "the victim's Oura tokens are not kept");
  });

  test("POST /auth/oura/confirm wants a completion and a fresh, valid link token", async () => {
    const started = await startLink(stack.normalizeUrl, await linkToken(SECRET, "athlete-confirm"));
    const completion = completionOf(
      await finishLink(await consent(fake, started.authorize, "oura-confirm"), started.cookie),
    );
    const post = async (body: unknown) => {
      const reply = await fetch(`${stack.normalizeUrl}/auth/oura/confirm`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: reply.status, body: (await reply.json()) as Record<string, unknown> };
    };
    assert.equal((await post({ completion })).status, 400);
    const forged = await post({ completion, link_token: await linkToken(`x${SECRET}`, "athlete-confirm") });
    assert.deepEqual([forged.status, /Invalid link token/.test(String(forged.body.error))], [401, true]);
    const token = await linkToken(SECRET, "athlete-confirm");
    const unknown = await post({ completion: "not-a-completion", link_token: token });
    assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
    const reused = await post({ completion, link_token: token });
    assert.deepEqual([reused.status, /already used/.test(String(reused.body.error))], [401, true]);
    const done = await confirmInApp(stack.normalizeUrl, SECRET, "athlete-confirm", completion);
    assert.deepEqual([done.status, done.body], [200, { status: "linked", userId: "athlete-confirm" }]);
    assert.equal((await account("athlete-confirm"))?.oura_user_id, "oura-confirm");
  });

  test("an existing link is never replaced by another Oura account (409); the same account refreshes its tokens", async () => {
    const first = await linkInBrowser(stack.normalizeUrl, fake, SECRET, "athlete-relink", "oura-relink-a");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const before = (await account("athlete-relink"))!;

    const other = await linkInBrowser(stack.normalizeUrl, fake, SECRET, "athlete-relink", "oura-relink-b");
    assert.equal(other.status, 409);
    assert.match(
      String(other.body.error),
      /already linked to a different Oura account; it must be unlinked before another one is linked/,
    );
    assert.deepEqual(await account("athlete-relink"), before, "row untouched");

    const same = await linkInBrowser(stack.normalizeUrl, fake, SECRET, "athlete-relink", "oura-relink-a");
    assert.deepEqual([same.status, same.body], [200, { status: "linked", userId: "athlete-relink" }]);
    const after = (await account("athlete-relink"))!;
    assert.equal(after.oura_user_id, "oura-relink-a");
    assert.notDeepEqual(after.access_token, before.access_token, "the new tokens are stored");
    assert.ok(after.updated_at > before.updated_at);

    const stolen = await linkInBrowser(stack.normalizeUrl, fake, SECRET, "athlete-thief", "oura-relink-a");
    assert.equal(stolen.status, 409);
    assert.match(String(stolen.body.error), /this Oura account is already linked to another user/);
  });

  test("aa-ops oura link-token mints a token normalize accepts; without the secret it says what to set", async () => {
    const minted = await aaOps(
      ["oura", "link-token", "--user", "athlete-ops", "--link-url", `${stack.normalizeUrl}/auth/oura/link`],
      { OURA_LINK_TOKEN_SECRET: SECRET },
    );
    assert.equal(minted.code, 0, showRun(minted));
    const url = new URL(minted.stdout.trim());
    const started = await startLink(stack.normalizeUrl, url.searchParams.get("link_token") ?? "");
    const finished = await finishLink(await consent(fake, started.authorize, "oura-ops"), started.cookie);
    const done = await finishAndConfirm(stack.normalizeUrl, SECRET, "athlete-ops", finished);
    assert.deepEqual([done.status, done.body], [200, { status: "linked", userId: "athlete-ops" }]);

    const noSecret = await aaOps(["oura", "link-token", "--user", "athlete-ops"]);
    assert.equal(noSecret.code, 2, showRun(noSecret));
    assert.match(
      noSecret.stderr,
      /OURA_LINK_TOKEN_SECRET must be set \(at least 32 characters, the same value as normalize's\)/,
    );
    const tooLong = await aaOps(["oura", "link-token", "--user", "athlete-ops", "--expires-in", "1h"], {
      OURA_LINK_TOKEN_SECRET: SECRET,
    });
    assert.equal(tooLong.code, 2, showRun(tooLong));
  });

  test("/auth/oura/link and /auth/oura/callback share a per-address rate limit (429), anonymous calls included", async () => {
    const port = String(await freePort());
    const limited = startService("normalize", {
      ...stack.env,
      ...ouraEnv,
      PORT: port,
      OURA_LINK_TOKEN_SECRET: SECRET,
      OURA_LINK_RATE_LIMIT_MAX: "3",
      TRUST_PROXY: "127.0.0.1",
    });
    try {
      await limited.waitForLog("[normalize] Listening on");
      const url = baseUrl(port);
      const statuses = [];
      for (const path of [
        "/auth/oura/link?userId=victim",
        "/auth/oura/callback?state=x",
        "/auth/oura/link",
        "/auth/oura/callback?state=x",
      ]) {
        statuses.push((await fetch(`${url}${path}`, { redirect: "manual" })).status);
      }
      assert.deepEqual(statuses, [401, 400, 401, 429]);
      const refused = await fetch(`${url}/auth/oura/link`);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After");
      assert.match(
        ((await refused.json()) as { message: string }).message,
        /Too many Oura link requests from this address: at most 3 per 60 s/,
      );
      const elsewhere = await fetch(`${url}/auth/oura/link`, { headers: { "x-forwarded-for": "203.0.113.9" } });
      assert.equal(elsewhere.status, 401, "another client address (behind the trusted proxy) has its own budget");
      assert.equal((await fetch(`${url}/health`)).status === 429, false, "health is not limited");
    } finally {
      await limited.stop();
    }
  });

  test("normalize with Oura enabled refuses to start without a way to authenticate linking, naming what to set", async () => {
    /** The startup log of a normalize that must exit 1; one that listens instead is stopped and fails the test. */
    const refusedStart = async (extra: Record<string, string>) => {
      const service = startService("normalize", { ...stack.env, ...ouraEnv, PORT: "0", ...extra });
      const listening = () => service.messages().some((m) => m.startsWith("[normalize] Listening on"));
      await waitFor(() => service.process.exitCode !== null || listening(), {
        timeoutMs: 30_000,
        what: "normalize exits or listens",
      });
      await service.stop();
      assert.equal(service.process.exitCode, 1, `normalize should have refused to start:\n${service.lines.join("\n")}`);
      return service.lines.join("\n");
    };
    assert.match(
      await refusedStart({}),
      /OURA_LINK_TOKEN_SECRET is required when Oura is enabled: \/auth\/oura\/link accepts only link tokens/,
    );
    assert.match(
      await refusedStart({ OURA_LINK_TOKEN_SECRET: "too-short" }),
      /OURA_LINK_TOKEN_SECRET must NOT have fewer than 32 characters, got \(hidden\)/,
    );
    const plainHttp = await refusedStart({
      OURA_LINK_TOKEN_SECRET: SECRET,
      OURA_REDIRECT_URI: "http://normalize.example/auth/oura/callback",
    });
    assert.match(plainHttp, /OURA_REDIRECT_URI must be https/);
    const plainOura = await refusedStart({
      OURA_LINK_TOKEN_SECRET: SECRET,
      OURA_TOKEN_URL: "http://oura.example/oauth/token",
      OURA_API_BASE_URL: "http://10.0.0.8:8080",
    });
    for (const name of ["OURA_TOKEN_URL", "OURA_API_BASE_URL"])
      assert.match(plainOura, new RegExp(`${name} must be an https:// URL .*http:// is accepted for loopback only`));
    const opsPlain = await aaOps(["oura", "subscriptions", "list", "--api-url", "http://oura.example"], {
      OURA_CLIENT_ID: "id",
      OURA_CLIENT_SECRET: "secret",
    });
    assert.equal(opsPlain.code, 2, showRun(opsPlain));
    assert.match(opsPlain.stderr, /--api-url must be an https:\/\/ URL/);
    const noReturn = await refusedStart({ OURA_LINK_TOKEN_SECRET: SECRET, OURA_LINK_RETURN_URL: "" });
    assert.match(noReturn, /OURA_LINK_RETURN_URL is required when Oura is enabled: the app's page the browser returns/);
  });
});
