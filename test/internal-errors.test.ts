import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import { generateKeyPair, SignJWT } from "jose";
import { normalizeOuraEnv, startFakeOura, type FakeOura } from "./helpers/fake-oura.js";
import { consent, linkToken, startLink } from "./helpers/oura-link.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";

const ISSUER = "https://auth.internal-errors.example";
const AUDIENCE = "athlete-ally-ingest";
const LINK_SECRET = `link-secret-${randomBytes(16).toString("hex")}`;
const MADE_UP_KEY = `aak_0123456789abcdef_${"A".repeat(43)}`;
// What PostgreSQL, jose and node:crypto say; none of it may reach a client.
const INTERNAL_TEXT = /relation|does not exist|_gone|JSON Web Key Set|Expected 200|Unsupported state|authenticate data/;

const reading = (userId: string) => ({ userId, date: new Date().toISOString().slice(0, 10), rmssd: 50 });

/** The log record (parsed) of `service` whose msg includes `text` and whose line matches `detail`. */
function logged(lines: string[], text: string, detail: RegExp): Record<string, unknown> | undefined {
  const line = lines.find((l) => l.includes(text) && detail.test(l));
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}

/** Every answer below is a failure of ours: the client gets fixed words, the log gets the cause. */
describe("internal error text stays in the log: ingest's 503s and normalize's 500s are generic", () => {
  let stack: Stack;
  let fake: FakeOura;
  let jwks: Server;

  before(async () => {
    // A key server that fails the way a broken identity provider does, with a body of its own.
    jwks = createServer((_request, response) => response.writeHead(500).end("upstream detail: db pool exhausted"));
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    fake = await startFakeOura();
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize({
      ...normalizeOuraEnv(fake, stack.normalizeUrl, randomBytes(32).toString("base64")),
      OURA_LINK_TOKEN_SECRET: LINK_SECRET,
      OURA_LINK_RATE_LIMIT_MAX: "0",
    });
    const ingest = await stack.startIngest({
      INGEST_AUTH_MODE: "api-key,jwt",
      INGEST_JWT_ISSUER: ISSUER,
      INGEST_JWT_AUDIENCE: AUDIENCE,
      INGEST_JWT_JWKS_URL: `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`,
    });
    await ingest.waitForLog("[ingest] API keys loaded");
  });
  after(async () => {
    await stack?.close();
    await fake?.close();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  /** Runs `body` with `table` renamed away, so the services' next query on it fails inside PostgreSQL. */
  async function withoutTable(table: string, body: () => Promise<void>): Promise<void> {
    await stack.db.pool.query(`ALTER TABLE ${table} RENAME TO ${table}_gone`);
    try {
      await body();
    } finally {
      await stack.db.pool.query(`ALTER TABLE ${table}_gone RENAME TO ${table}`);
    }
  }

  test("ingest: a failed API key lookup is a 503 without PostgreSQL's message, which is logged", async () => {
    await withoutTable("ingest_api_keys", async () => {
      const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, reading("errors-key"), {
        authorization: `Bearer ${MADE_UP_KEY}`,
      });
      assert.equal(reply.status, 503, JSON.stringify(reply.body));
      assert.equal(
        reply.body.error,
        "Cannot verify credentials right now: the API key store did not answer. Retry later.",
      );
      assert.doesNotMatch(JSON.stringify(reply.body), INTERNAL_TEXT);
    });
    await stack.ingest!.waitForLog("[ingest] request refused (503): credentials could not be checked");
    const record = logged(stack.ingest!.lines, "credentials could not be checked", /ingest_api_keys/);
    assert.match(
      String(record?.detail),
      /API key lookup in PostgreSQL failed: relation .*ingest_api_keys.* does not exist/,
    );
  });

  test("ingest: an unreachable JWT key set is a 503 without the fetch error", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const token = await new SignJWT({ user_ids: ["errors-jwt"] })
      .setProtectedHeader({ alg: "RS256", kid: "k0" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject("bridge")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, reading("errors-jwt"), {
      authorization: `Bearer ${token}`,
    });
    assert.equal(reply.status, 503, JSON.stringify(reply.body));
    assert.equal(
      reply.body.error,
      "Cannot verify credentials right now: the token issuer's key set could not be fetched. Retry later.",
    );
    assert.doesNotMatch(JSON.stringify(reply.body), INTERNAL_TEXT);
  });

  test("normalize: a database error under /auth/oura/link is a 500 naming a request id; the log has the cause", async () => {
    await withoutTable("oura_link_tokens_used", async () => {
      const token = await linkToken(LINK_SECRET, "errors-db");
      const reply = await fetch(`${stack.normalizeUrl}/auth/oura/link?link_token=${token}`, { redirect: "manual" });
      const body = (await reply.json()) as Record<string, unknown>;
      assert.equal(reply.status, 500, JSON.stringify(body));
      assert.doesNotMatch(JSON.stringify(body), INTERNAL_TEXT);
      assert.equal(typeof body.requestId, "string");
      assert.equal(
        body.error,
        `Internal error: the request was not completed; retry, and if it keeps failing give the operator the id ${String(body.requestId)}`,
      );
      await stack.normalize!.waitForLog("/auth/oura/link failed");
      const record = logged(stack.normalize!.lines, "/auth/oura/link failed", /oura_link_tokens_used/);
      assert.equal(record?.reqId, body.requestId, "the id the client quotes finds the log line");
    });
  });

  test("normalize: a sealed value that does not decrypt is a 500 without the crypto message", async () => {
    const started = await startLink(stack.normalizeUrl, await linkToken(LINK_SECRET, "errors-crypto"));
    // Flip a byte of the GCM tag: the verifier no longer decrypts (a wrong or rotated key reads the same).
    await stack.db.pool.query(
      "UPDATE oura_link_states SET code_verifier = set_byte(code_verifier, 20, get_byte(code_verifier, 20) # 255) " +
        "WHERE user_id = 'errors-crypto'",
    );
    const callback = await consent(fake, started.authorize, "oura-errors-crypto");
    const reply = await fetch(callback, { headers: { cookie: started.cookie }, redirect: "manual" });
    const body = (await reply.json()) as Record<string, unknown>;
    assert.equal(reply.status, 500, JSON.stringify(body));
    assert.doesNotMatch(JSON.stringify(body), INTERNAL_TEXT);
    await stack.normalize!.waitForLog("/auth/oura/callback failed");
  });
});
