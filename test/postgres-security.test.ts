import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { ConfigError, postgresConnectionConfig } from "@aa/service-kit";
import { aaOps, serviceFlags, showRun } from "./helpers/cli.js";
import { findPsql } from "@aa/local-stack";
import { startPrivatePostgres, type PrivatePostgres } from "./helpers/postgres.js";
import { startService } from "./helpers/service.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROLES_SQL = join(ROOT, "deploy/postgres/roles.sql");
// roles.sql is a psql script (its :'variables'); the embedded PostgreSQL ships no psql.
const PSQL = findPsql();

/** A CA, a server certificate it signed for 127.0.0.1 / localhost, and an unrelated CA. */
async function makeCertificates(
  dir: string,
): Promise<{ ca: string; otherCa: string; serverCrt: string; serverKey: string }> {
  const openssl = (args: string[]) => run("openssl", args, { cwd: dir });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caExtensions = [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ];
  await openssl([
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=aa-pgsec test CA",
    ...caExtensions,
  ]);
  await openssl([
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    "other-ca.key",
    "-out",
    "other-ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=aa-pgsec other CA",
    ...caExtensions,
  ]);
  await openssl(["req", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  await writeFile(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ]);
  return {
    ca: join(dir, "ca.crt"),
    otherCa: join(dir, "other-ca.crt"),
    serverCrt: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
  };
}

describe("postgresConnectionConfig: libpq's sslmode, whatever pg 8 would make of it", () => {
  let dir: string;
  let caPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aa-pgsec-unit-"));
    caPath = join(dir, "ca.crt");
    await writeFile(caPath, "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const URL_WITH_PASSWORD = "postgres://app:s3cret-pw@db.example:5432/athlete";

  test("no sslmode anywhere: no TLS, and the URL is passed through", () => {
    assert.deepEqual(postgresConnectionConfig(URL_WITH_PASSWORD, {}), {
      connectionString: URL_WITH_PASSWORD,
      ssl: false,
    });
  });

  test("the URL's sslmode and sslrootcert win over PGSSLMODE / PGSSLROOTCERT, and leave the URL (pg would re-read them)", () => {
    const config = postgresConnectionConfig(
      `${URL_WITH_PASSWORD}?sslmode=verify-full&sslrootcert=${caPath}&application_name=x`,
      { PGSSLMODE: "disable", PGSSLROOTCERT: "/nonexistent" },
    );
    assert.equal(config.connectionString, `${URL_WITH_PASSWORD}?application_name=x`);
    assert.deepEqual(Object.keys(config.ssl || {}), ["ca"], "verify-full: Node's defaults check chain and host name");
  });

  test("PGSSLMODE / PGSSLROOTCERT apply when the URL does not say", () => {
    const config = postgresConnectionConfig(URL_WITH_PASSWORD, { PGSSLMODE: "verify-ca", PGSSLROOTCERT: caPath });
    assert.ok(
      config.ssl && config.ssl.ca !== undefined && typeof config.ssl.checkServerIdentity === "function",
      "verify-ca: chain checked, host name not",
    );
  });

  test("require is libpq's: encrypted, not verified; with a root certificate it checks the chain (verify-ca)", () => {
    assert.deepEqual(postgresConnectionConfig(`${URL_WITH_PASSWORD}?sslmode=require`, {}).ssl, {
      rejectUnauthorized: false,
    });
    const withCa = postgresConnectionConfig(`${URL_WITH_PASSWORD}?sslmode=require&sslrootcert=${caPath}`, {}).ssl;
    assert.ok(withCa && withCa.ca !== undefined && withCa.rejectUnauthorized === undefined);
  });

  test("what pg cannot honour is a ConfigError that never quotes the password", () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        `${URL_WITH_PASSWORD}?sslmode=prefer`,
        {},
        /must be one of disable, require, verify-ca, verify-full, got "prefer"/,
      ],
      [URL_WITH_PASSWORD, { PGSSLMODE: "allow" }, /got "allow"/],
      [`${URL_WITH_PASSWORD}?sslmode=verify-ca`, {}, /verify-ca needs a root certificate/],
      [
        `${URL_WITH_PASSWORD}?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt`,
        {},
        /sslrootcert cannot be read from "\/nonexistent\/ca.crt"/,
      ],
      [`${URL_WITH_PASSWORD}?ssl=true`, {}, /ssl is not supported; use sslmode/],
      [`${URL_WITH_PASSWORD}?sslmode=require&sslcert=${caPath}`, {}, /sslcert and sslkey go together/],
      ["app:s3cret-pw@db.example", {}, /DATABASE_URL is not a URL/],
    ];
    for (const [url, env, expected] of cases) {
      assert.throws(
        () => postgresConnectionConfig(url, env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.match(error.message, expected);
          assert.ok(!error.message.includes("s3cret-pw"), error.message);
          return true;
        },
      );
    }
  });
});

const noPsql = PSQL ? false : "no psql here (Debian: apt-get install postgresql-client): roles.sql needs it";

describe("PostgreSQL over TLS with passwords and least-privilege roles", { skip: noPsql }, () => {
  const prefix = `aa_pgsec_${randomBytes(4).toString("hex")}`;
  const roles = {
    owner: `${prefix}_owner`,
    normalize: `${prefix}_normalize`,
    ingest: `${prefix}_ingest`,
    ops: `${prefix}_ops`,
  };
  const passwords = {
    owner: `pw-owner-${randomUUID()}`,
    normalize: `pw-normalize-${randomUUID()}`,
    ingest: `pw-ingest-${randomUUID()}`,
    ops: `pw-ops-${randomUUID()}`,
  };
  type Role = keyof typeof roles;
  let certsDir: string;
  let certs: Awaited<ReturnType<typeof makeCertificates>>;
  let cluster: PrivatePostgres;
  let stack: Stack;

  /** The role's URL over TCP; by default TLS with the test CA, verified in full. */
  const urlOf = (role: Role, query = `sslmode=verify-full&sslrootcert=${certs.ca}`, password = passwords[role]) =>
    `postgres://${roles[role]}:${encodeURIComponent(password)}@127.0.0.1:${cluster.port}/postgres${query ? `?${query}` : ""}`;

  async function applyRoles(): Promise<void> {
    const variables = {
      schema: stack.db.schema,
      owner_role: roles.owner,
      normalize_role: roles.normalize,
      ingest_role: roles.ingest,
      ops_role: roles.ops,
    };
    const args = Object.entries(variables).flatMap(([name, value]) => ["-v", `${name}=${value}`]);
    await run(PSQL!, [cluster.socketUrl, "-q", "-v", "ON_ERROR_STOP=1", ...args, "-f", ROLES_SQL]);
  }

  async function asRole<T>(role: Role, action: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({
      ...postgresConnectionConfig(urlOf(role), {}),
      options: `-c search_path=${stack.db.schema}`,
    });
    await client.connect();
    try {
      return await action(client);
    } finally {
      await client.end();
    }
  }

  /** SQLSTATE of the statement's failure, or "ok". */
  const outcome = (role: Role, sql: string) =>
    asRole(role, (c) =>
      c.query(sql).then(
        () => "ok",
        (error: { code?: string }) => error.code ?? "?",
      ),
    );

  before(async () => {
    certsDir = await mkdtemp(join(tmpdir(), "aa-pgsec-certs-"));
    certs = await makeCertificates(certsDir);
    cluster = await startPrivatePostgres({
      settings: { ssl: "on" },
      // TCP only with TLS and a password (scram-sha-256); no `host` line, so plain TCP finds no entry.
      hostRules: "hostssl all all 127.0.0.1/32 scram-sha-256",
      files: {
        "server.crt": await readFile(certs.serverCrt, "utf8"),
        "server.key": await readFile(certs.serverKey, "utf8"),
      },
    });
    // The test's own pool is the superuser over the socket; the services get role URLs.
    stack = await createStack({ mode: "multi", databaseUrl: cluster.socketUrl });
    await applyRoles();
    for (const role of Object.keys(roles) as Role[])
      await stack.db.pool.query(`ALTER ROLE ${roles[role]} PASSWORD '${passwords[role]}'`);
  });
  after(async () => {
    await stack?.close();
    // Roles are cluster-wide: gone with the throwaway cluster.
    await cluster?.destroy();
    await rm(certsDir, { recursive: true, force: true });
  });

  /** Runs normalize that must fail at startup; returns its whole output. */
  async function failedStart(env: Record<string, string>): Promise<string> {
    const normalize = startService("normalize", { ...stack.env, PORT: "0", ...env });
    assert.equal(await normalize.exited, 1, normalize.lines.join("\n"));
    return normalize.lines.join("\n");
  }

  const assertNoPassword = (text: string) => {
    for (const password of Object.values(passwords)) assert.ok(!text.includes(password), `a password in:\n${text}`);
  };

  test("before the migrations, the normalize role neither migrates nor starts: each says what to run", async () => {
    const denied = await failedStart({ DATABASE_URL: urlOf("normalize") });
    assert.match(
      denied,
      /This database role may not migrate schema .* \(no CREATE right on it\): run `npm run migrate` as the owner role and start normalize with RUN_MIGRATIONS=false/,
    );
    const unmigrated = await failedStart({ DATABASE_URL: urlOf("normalize"), RUN_MIGRATIONS: "false" });
    assert.match(
      unmigrated,
      new RegExp(
        `Database schema \\\\"${stack.db.schema}\\\\" is not migrated: 0001_create-hrv-data, .* not applied\\. Run \`npm run migrate\``,
      ),
    );
    assertNoPassword(denied + unmigrated);
  });

  test("npm run db:migrate as the owner, with PGSSLMODE=verify-full and PGSSLROOTCERT", async () => {
    const { stdout, stderr } = await run(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: urlOf("owner", ""),
        DATABASE_SCHEMA: stack.db.schema,
        PGSSLMODE: "verify-full",
        PGSSLROOTCERT: certs.ca,
      },
    });
    assert.match(stdout, /Applied migrations: 0001_create-hrv-data, 0002_create-sleep-data, 0003_create-oura-accounts/);
    assertNoPassword(stdout + stderr);
    await applyRoles(); // grants on the tables the migrations created
  });

  test("normalize as the normalize role (RUN_MIGRATIONS=false) stores a reading end to end over verify-full TLS", async () => {
    const warnings: string[] = [];
    await stack.startNormalize({ DATABASE_URL: urlOf("normalize"), RUN_MIGRATIONS: "false" });
    await stack.startIngest({ INGEST_AUTH_MODE: "none" });
    const reading = { userId: "pgsec-tls-user", date: new Date().toISOString().slice(0, 10), rmssd: 61 };
    assert.equal((await postJson(`${stack.ingestUrl}/ingest/hrv`, reading)).status, 202);
    await waitFor(
      async () =>
        (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = $1", [reading.userId])).rowCount === 1,
      { what: "the reading's row" },
    );
    const { rows } = await stack.db.pool.query<{ ssl: boolean }>(
      "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1",
      [roles.normalize],
    );
    assert.ok(rows.length > 0 && rows.every((r) => r.ssl), "every normalize connection is TLS");
    assertNoPassword(stack.normalize!.lines.join("\n"));
    // pg 8 warns about sslmode=require (it will change meaning in pg 9); ours never hands it one.
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    try {
      assert.equal(
        await asRole("ops", async (c) => (await c.query("SELECT count(*)::int AS n FROM hrv_data")).rows[0].n),
        1,
      );
      const client = new pg.Client(
        postgresConnectionConfig(urlOf("ops", `sslmode=require&sslrootcert=${certs.ca}`), {}),
      );
      await client.connect();
      await client.end();
    } finally {
      process.off("warning", onWarning);
    }
    assert.deepEqual(
      warnings.filter((w) => w.includes("SECURITY WARNING")),
      [],
    );
  });

  test("aa-ops verify as the ops role reads the probe row over TLS", async () => {
    const verify = await aaOps(["verify", ...serviceFlags(stack), "--json"], {
      DATABASE_URL: urlOf("ops"),
      DATABASE_SCHEMA: stack.db.schema,
    });
    const report = JSON.parse(verify.stdout) as { checks: { name: string; status: string; detail: string }[] };
    const row = report.checks.find((c) => c.name === "row in hrv_data");
    assert.equal(row?.status, "PASS", showRun(verify));
    assertNoPassword(verify.stdout + verify.stderr);
  });

  test("users erase as the ops role deletes the user's rows and records the tombstone normalize reads", async () => {
    const erase = await aaOps(["users", "erase", "--user", "pgsec-tls-user", "--yes", "--nats-url", stack.nats.url], {
      DATABASE_URL: urlOf("ops"),
      DATABASE_SCHEMA: stack.db.schema,
      LOG_HASH_KEY: "pgsec-log-hash-key-of-at-least-32-chars",
    });
    assert.equal(erase.code, 0, showRun(erase));
    const left = await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = 'pgsec-tls-user'");
    assert.equal(left.rowCount, 0);
    assert.equal(await outcome("normalize", "SELECT count(*) FROM erased_users"), "ok");
    assertNoPassword(erase.stdout + erase.stderr);
  });

  test("least privilege: normalize has no DDL and no DELETE on readings; ingest reads only the API keys; ops reads readings and manages keys", async () => {
    const schema = stack.db.schema;
    const expected: [Role, string, string][] = [
      ["normalize", `CREATE TABLE ${schema}.pgsec_probe (id int)`, "42501"],
      ["normalize", "DROP TABLE hrv_data", "42501"],
      ["normalize", "ALTER TABLE hrv_data ADD COLUMN pgsec int", "42501"],
      ["normalize", "DELETE FROM hrv_data", "42501"],
      ["normalize", "SELECT * FROM ingest_api_keys", "42501"],
      ["normalize", "DELETE FROM oura_link_states WHERE false", "ok"],
      [
        "normalize",
        "INSERT INTO oura_link_tokens_used (token_id, user_id, expires_at) VALUES ('pgsec-jti', 'u', now()) ON CONFLICT DO NOTHING RETURNING token_id",
        "ok",
      ],
      ["normalize", "DELETE FROM oura_link_tokens_used WHERE expires_at < now()", "ok"],
      ["normalize", "DELETE FROM oura_link_pending WHERE expires_at < now()", "ok"],
      ["ingest", "SELECT key_id, secret_sha256 FROM ingest_api_keys", "ok"],
      ["ingest", "SELECT * FROM hrv_data", "42501"],
      ["ingest", "SELECT * FROM oura_accounts", "42501"],
      [
        "ingest",
        "INSERT INTO ingest_api_keys (key_id, secret_sha256, name, tenant) VALUES ('k1', '\\x00', 'n', 't')",
        "42501",
      ],
      ["ingest", "UPDATE ingest_api_keys SET revoked_at = now()", "42501"],
      ["ops", "SELECT count(*) FROM sleep_data", "ok"],
      [
        "ops",
        "INSERT INTO ingest_api_keys (key_id, secret_sha256, name, tenant) VALUES ('k2', '\\x00', 'n', 't')",
        "ok",
      ],
      ["ops", "UPDATE ingest_api_keys SET revoked_at = now() WHERE key_id = 'k2'", "ok"],
      ["ops", "DELETE FROM ingest_api_keys", "42501"],
      ["ops", "UPDATE hrv_data SET rmssd = 1", "42501"],
      ["ops", "SELECT * FROM oura_accounts", "42501"],
      ["ops", "SELECT * FROM oura_link_tokens_used", "42501"],
      ["ops", "SELECT refresh_token FROM oura_accounts", "42501"],
      ["ops", "SELECT code_verifier FROM oura_link_states", "42501"],
      ["ops", "DELETE FROM oura_accounts WHERE user_id = 'nobody'", "ok"],
      ["ops", "DELETE FROM hrv_data WHERE user_id = 'nobody'", "ok"],
      [
        "ops",
        "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id) VALUES ('u', '2025-10-02', 1, 0, now(), 'e')",
        "42501",
      ],
      ["normalize", "SELECT 1 FROM erased_users", "ok"],
      ["normalize", "DELETE FROM erased_users", "42501"],
      ["ops", "SELECT * FROM oura_link_pending", "42501"],
      ["ops", `CREATE TABLE ${schema}.pgsec_probe (id int)`, "42501"],
    ];
    const seen: [Role, string, string][] = [];
    for (const [role, sql] of expected) seen.push([role, sql, await outcome(role, sql)]);
    assert.deepEqual(seen, expected);
  });

  test("keys as the ops role: create and revoke work; no other column of a key row can be rewritten", async () => {
    const env = { DATABASE_URL: urlOf("ops"), DATABASE_SCHEMA: stack.db.schema };
    const created = await aaOps(
      ["keys", "create", "--name", "pgsec-ops", "--tenant", "pgsec", "--users", "pgsec-u1", "--json"],
      env,
    );
    assert.equal(created.code, 0, showRun(created));
    const { keyId } = JSON.parse(created.stdout) as { keyId: string };
    const row = async () =>
      (await stack.db.pool.query("SELECT * FROM ingest_api_keys WHERE key_id = $1", [keyId])).rows[0] as Record<
        string,
        unknown
      >;
    const original = await row();
    const rewrites = [
      "user_ids = NULL",
      "secret_sha256 = '\\x00'",
      "expires_at = NULL",
      "name = 'renamed'",
      "tenant = 'other'",
      "created_at = now()",
      "key_id = 'rewritten'",
      "revoked_at = now(), user_ids = NULL",
    ];
    const refused = async () => {
      const seen: [string, string][] = [];
      for (const set of rewrites)
        seen.push([set, await outcome("ops", `UPDATE ingest_api_keys SET ${set} WHERE key_id = '${keyId}'`)]);
      return seen;
    };
    assert.deepEqual(
      await refused(),
      rewrites.map((set) => [set, "42501"]),
    );
    assert.deepEqual(await row(), original, "the row is untouched");

    // An older roles.sql granted UPDATE on the whole table: running the current one again takes it back.
    await stack.db.pool.query(`GRANT UPDATE ON ingest_api_keys TO ${roles.ops}`);
    assert.equal(await outcome("ops", `UPDATE ingest_api_keys SET name = name WHERE key_id = '${keyId}'`), "ok");
    await applyRoles();
    assert.deepEqual(
      await refused(),
      rewrites.map((set) => [set, "42501"]),
    );

    const revoked = await aaOps(["keys", "revoke", keyId], env);
    assert.equal(revoked.code, 0, showRun(revoked));
    assert.match(revoked.stdout, new RegExp(`Revoked API key ${keyId} \\(pgsec-ops, tenant pgsec\\)`));
    const after = await row();
    assert.ok(after.revoked_at instanceof Date, "revoked_at set");
    assert.deepEqual({ ...after, revoked_at: null }, original, "only revoked_at changed");
    assertNoPassword(created.stdout + created.stderr + revoked.stdout + revoked.stderr);
  });

  test("plain TCP is refused by the server (hostssl only) with a clear message, the password never printed", async () => {
    const text = await failedStart({ DATABASE_URL: urlOf("normalize", "sslmode=disable") });
    assert.match(
      text,
      new RegExp(
        `Cannot connect to PostgreSQL at postgres://${roles.normalize}:\\*\\*\\*@127\\.0\\.0\\.1:${cluster.port}/postgres\\?sslmode=disable: no pg_hba.conf entry for host .*no encryption; the server accepts only TLS here`,
      ),
    );
    assertNoPassword(text);
  });

  test("a wrong password: a clear startup error that prints neither password", async () => {
    const wrong = `wrong-${randomUUID()}`;
    const text = await failedStart({ DATABASE_URL: urlOf("normalize", undefined, wrong) });
    assert.match(
      text,
      new RegExp(
        `Cannot connect to PostgreSQL at postgres://${roles.normalize}:\\*\\*\\*@127\\.0\\.0\\.1:${cluster.port}/postgres.*password authentication failed for user \\\\"${roles.normalize}\\\\"`,
      ),
    );
    assert.ok(!text.includes(wrong), text);
    assertNoPassword(text);
  });

  test("verify-full refuses a server certificate from another CA", async () => {
    const text = await failedStart({
      DATABASE_URL: urlOf("normalize", `sslmode=verify-full&sslrootcert=${certs.otherCa}`),
    });
    assert.match(
      text,
      /Cannot connect to PostgreSQL at .*: (self-signed certificate in certificate chain|unable to verify the first certificate|unable to get local issuer certificate)/,
    );
    assertNoPassword(text);
  });
});
