import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { errors } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { natsConnectionOptions, natsSecurityFromEnv } from "@aa/service-kit";
import { aaOps, showRun } from "./helpers/cli.js";
import { startFakeOura, type FakeOura } from "./helpers/fake-oura.js";
import { createTlsFiles, secretsDir, userNkey } from "./helpers/nats-auth.js";
import { freePort, startNats, type PrivateNats } from "./helpers/nats.js";
import { ROOT, runOpsScript } from "./helpers/ops-scripts.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { startService, type RunningService } from "./helpers/service.js";
import { postJson } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

type Component = "ingest" | "normalize" | "ops";
type Env = Record<string, string>;

/**
 * The nats-server config of docs/security.md, verbatim but for where the certificates are and
 * the store (the test helper passes its own -sd): so the documented permissions are the tested ones.
 */
async function documentedServerConfig(tlsDir: string): Promise<string> {
  const doc = await readFile(`${ROOT}/docs/security.md`, "utf8");
  const start = doc.indexOf("## NATS: authentication, TLS and minimal permissions");
  const section = doc.slice(start, doc.indexOf("\n## ", start + 1));
  const blocks = [...section.matchAll(/```conf\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  assert.equal(blocks.length, 1, "one nats-server config block in the NATS section of docs/security.md");
  const config = blocks[0] ?? "";
  assert.ok(
    config.includes("/etc/nats/tls/") && /^\s*store_dir: .*$/m.test(config),
    "the documented config names /etc/nats/tls/ and a store_dir",
  );
  return config.replaceAll("/etc/nats/tls/", `${tlsDir}/`).replace(/^\s*store_dir: .*$/m, "");
}

let secrets: Awaited<ReturnType<typeof secretsDir>>;
let nats: PrivateNats;
let tlsUrl: string;
let db: TestSchema;
let oura: FakeOura;
const envOf = {} as Record<Component, Env>;
const services: RunningService[] = [];

before(async () => {
  secrets = await secretsDir();
  const tls = await createTlsFiles(secrets.dir);
  const keys = { ingest: userNkey(), normalize: userNkey(), ops: userNkey() };
  nats = await startNats({
    config: await documentedServerConfig(secrets.dir),
    env: {
      NATS_INGEST_NKEY: keys.ingest.publicKey,
      NATS_NORMALIZE_NKEY: keys.normalize.publicKey,
      NATS_OPS_NKEY: keys.ops.publicKey,
    },
  });
  tlsUrl = nats.url.replace("nats://", "tls://");
  for (const component of ["ingest", "normalize", "ops"] as const) {
    envOf[component] = {
      NATS_URL: tlsUrl,
      NATS_TLS_CA_FILE: tls.ca,
      NATS_TLS_CERT_FILE: tls.clientCert,
      NATS_TLS_KEY_FILE: tls.clientKey,
      NATS_NKEY_SEED_FILE: await secrets.write(`${component}.nk`, keys[component].seed),
      NATS_INBOX_PREFIX: `_INBOX_${component}`,
    };
  }
  db = await createTestSchema();
  oura = await startFakeOura();
});

after(async () => {
  await Promise.all(services.map((service) => service.stop()));
  await nats?.stop();
  await db?.drop();
  await oura?.close();
  await secrets?.remove();
});

/** A connection in this test process as one of the components' users. */
async function connectAs(component: Component) {
  const security = natsSecurityFromEnv(envOf[component]);
  return await connect({ servers: tlsUrl, ...natsConnectionOptions(security, [tlsUrl]) });
}

async function start(name: "ingest" | "normalize", env: Env): Promise<string> {
  const port = String(await freePort());
  const service = startService(name, { ...envOf[name], ...env, PORT: port, HOST: "127.0.0.1" });
  services.push(service);
  await service.waitForLog(`[${name}] Listening on`);
  return `http://127.0.0.1:${port}`;
}

const violations = async (): Promise<string[]> =>
  (await nats.log()).split("\n").filter((line) => /Violation/.test(line));

const today = () => new Date().toISOString().slice(0, 10);

const WEBHOOK_SECRET = "perm-webhook-secret-0123456789abcdef";

/** Oura enabled (against a fake Oura API), so normalize binds and serves the Oura durable too. */
const ouraEnv = (): Env => ({
  OURA_CLIENT_ID: oura.clientId,
  OURA_CLIENT_SECRET: oura.clientSecret,
  OURA_TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  OURA_REDIRECT_URI: "http://127.0.0.1/auth/oura/callback",
  OURA_API_BASE_URL: oura.url,
  OURA_TOKEN_URL: `${oura.url}/oauth/token`,
  OURA_AUTHORIZE_URL: `${oura.url}/oauth/authorize`,
  OURA_LINK_TOKEN_SECRET: randomBytes(32).toString("base64"),
  OURA_LINK_RETURN_URL: "http://127.0.0.1/app/oura",
});

/** A signed notification for an Oura user nobody linked: ingest publishes it, normalize dead-letters it `not_linked`. */
async function postOuraNotification(ingestUrl: string): Promise<number> {
  const body = JSON.stringify({
    event_type: "create",
    data_type: "sleep",
    object_id: "perm-sleep-1",
    event_time: new Date().toISOString(),
    user_id: "perm-unlinked",
  });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac("sha256", WEBHOOK_SECRET)
    .update(timestamp + body)
    .digest("hex")
    .toUpperCase();
  const reply = await fetch(`${ingestUrl}/webhooks/oura`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-oura-signature": signature, "x-oura-timestamp": timestamp },
  });
  return reply.status;
}

async function dlqDepth(normalizeUrl: string, reason: string): Promise<boolean> {
  const metrics = await (await fetch(`${normalizeUrl}/metrics`)).text();
  return new RegExp(`^dlq_depth_messages\\{reason="${reason}"\\} 1$`, "m").test(metrics);
}

test("the pipeline runs with only the documented permissions: ops applies the topology, readings reach PostgreSQL, bad input the DLQ, ops replays it", async () => {
  for (const script of ["create-streams", "create-consumers"] as const) {
    const run = await runOpsScript(script, envOf.ops);
    assert.equal(run.code, 0, run.out);
  }
  const normalizeUrl = await start("normalize", {
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    RETRY_BUDGET_MS: "3000",
    ...ouraEnv(),
  });
  const ingestUrl = await start("ingest", { INGEST_AUTH_MODE: "none", OURA_WEBHOOK_SECRET: WEBHOOK_SECRET });

  const hrv = await postJson(`${ingestUrl}/ingest/hrv`, { userId: "perm-hrv", date: today(), rmssd: 50 });
  const sleep = await postJson(`${ingestUrl}/ingest/sleep`, {
    userId: "perm-sleep",
    date: today(),
    durationMinutes: 420,
    qualityScore: 80,
  });
  assert.equal(hrv.status, 202, JSON.stringify(hrv.body));
  assert.equal(sleep.status, 202, JSON.stringify(sleep.body));
  await waitFor(async () => (await db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = 'perm-hrv'")).rowCount === 1, {
    what: "hrv_data row",
  });
  await waitFor(
    async () => (await db.pool.query("SELECT 1 FROM sleep_data WHERE user_id = 'perm-sleep'")).rowCount === 1,
    { what: "sleep_data row" },
  );

  // Not JSON: normalize dead-letters it, and its DLQ depth gauge (read every 5 s) sees it.
  const nc = await connectAs("ingest");
  await jetstream(nc).publish("athlete-ally.hrv.raw-received", "{not json", { msgID: "perm-schema-invalid" });
  await nc.close();
  assert.equal(await postOuraNotification(ingestUrl), 202);
  await waitFor(() => dlqDepth(normalizeUrl, "schema_invalid"), {
    what: "dlq_depth_messages schema_invalid 1",
    timeoutMs: 20_000,
  });
  await waitFor(() => dlqDepth(normalizeUrl, "not_linked"), {
    what: "dlq_depth_messages not_linked 1",
    timeoutMs: 20_000,
  });
  const dlq = await aaOps(["dlq", "ls", "--json"], envOf.ops);
  assert.equal(dlq.code, 0, showRun(dlq));
  assert.match(dlq.stdout, /dlq\.normalize\.hrv\.raw-received\.schema-invalid/);
  const status = await aaOps(["status"], envOf.ops);
  assert.equal(status.code, 0, showRun(status));
  // ops republishes to the original subject and writes the audit record; normalize dead-letters it again.
  const replay = await aaOps(["dlq", "replay", "--reason", "not_linked"], envOf.ops);
  assert.equal(replay.code, 0, showRun(replay));
  await waitFor(
    async () =>
      /^normalize_oura_messages_total\{result="dlq"[^}]*\} 2$/m.test(
        await (await fetch(`${normalizeUrl}/metrics`)).text(),
      ),
    { what: "the replayed notification dead-lettered again" },
  );

  // Graceful stops unsubscribe and drain under the same permissions.
  await Promise.all(services.splice(0).map((service) => service.stop()));
  assert.deepEqual(await violations(), []);
});

test("ingest's user cannot publish dead letters, read a durable or another component's replies", async () => {
  const nc = await connectAs("ingest");
  const denied: string[] = [];
  void (async () => {
    for await (const status of nc.status())
      if (status.type === "error" && status.error instanceof errors.PermissionViolationError)
        denied.push(status.error.message);
  })();
  try {
    nc.publish("dlq.x", "forged");
    nc.subscribe("_INBOX_normalize.>");
    const jsm = await jetstreamManager(nc);
    await assert.rejects(
      jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable"),
      /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.AA_CORE_HOT\.normalize-hrv-durable"/,
    );
    await waitFor(() => denied.length >= 3, { what: `three violations, got ${denied.join("; ")}` });
    assert.ok(
      denied.some((m) => m.includes('Publish to "dlq.x"')),
      denied.join("; "),
    );
    assert.ok(
      denied.some((m) => m.includes('Subscription to "_INBOX_normalize.>"')),
      denied.join("; "),
    );
  } finally {
    await nc.close();
  }
  const logged = (await violations()).join("\n");
  assert.match(logged, /Publish Violation - .*Subject "dlq\.x"/);
  assert.match(logged, /Subscription Violation - .*Subject "_INBOX_normalize\.>"/);
});
