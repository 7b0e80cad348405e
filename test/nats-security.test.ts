import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConfigError, natsConnectionOptions, natsSecurityFromEnv } from "@aa/service-kit";
import { aaOps, showRun, type CliRun } from "./helpers/cli.js";
import {
  createOperator,
  createTlsFiles,
  secretsDir,
  tlsBlock,
  userNkey,
  type Operator,
  type TlsFiles,
} from "./helpers/nats-auth.js";
import { freePort, startNats, type PrivateNats } from "./helpers/nats.js";
import { runOpsScript } from "./helpers/ops-scripts.js";
import { startService } from "./helpers/service.js";
import { postJson } from "./helpers/stack.js";

type Env = Record<string, string>;

let secrets: Awaited<ReturnType<typeof secretsDir>>;
let tls: TlsFiles;
let operator: Operator;
/** Every password, token and seed a test uses: none may ever appear in output or logs. */
const SECRETS: string[] = [];
/** Everything the processes printed, checked for secrets at the end. */
const OUTPUTS: string[] = [];

const secret = (value: string): string => {
  SECRETS.push(value);
  return value;
};

before(async () => {
  secrets = await secretsDir();
  tls = await createTlsFiles(secrets.dir);
  operator = createOperator();
});

after(async () => {
  for (const output of OUTPUTS)
    for (const value of SECRETS) assert.ok(!output.includes(value), `a secret was printed:\n${output}`);
  await secrets?.remove();
});

const today = () => new Date().toISOString().slice(0, 10);

/** ops script → streams, then ingest accepts a reading: both talked JetStream over the secured connection. */
async function worksWith(nats: PrivateNats, url: string, env: Env): Promise<void> {
  const created = await runOpsScript("create-streams", { NATS_URL: url, ...env });
  OUTPUTS.push(created.out);
  assert.equal(created.code, 0, created.out);
  const port = String(await freePort());
  const ingest = startService("ingest", {
    NATS_URL: url,
    PORT: port,
    HOST: "127.0.0.1",
    INGEST_AUTH_MODE: "none",
    ...env,
  });
  try {
    await ingest.waitForLog("[ingest] Listening on");
    const response = await postJson(`http://127.0.0.1:${port}/ingest/hrv`, {
      userId: "natssec",
      date: today(),
      rmssd: 42,
    });
    assert.equal(response.status, 202, JSON.stringify(response.body));
  } finally {
    await ingest.stop();
    OUTPUTS.push(ingest.lines.join("\n"));
  }
  assert.match(ingest.messages().join("\n"), /\[nats\] Connected to .* with /);
  assert.equal(nats.process.exitCode, null);
}

/** aa-ops fails with exit 1 and one line naming the URL and the reason. */
async function opsFails(url: string, env: Env, reason: RegExp): Promise<CliRun> {
  const run = await aaOps(["stream", "ls"], { NATS_URL: url, ...env });
  OUTPUTS.push(run.stdout, run.stderr);
  assert.equal(run.code, 1, showRun(run));
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, showRun(run));
  assert.match(lines[0] ?? "", new RegExp(`^aa-ops: error: Cannot connect to NATS at ${url.replace(/\./g, "\\.")}: `));
  assert.match(lines[0] ?? "", reason);
  return run;
}

/** The service exits 1 at startup with the reason, promptly: the first connect is not retried forever. */
async function serviceFails(url: string, env: Env, reason: RegExp): Promise<void> {
  const ingest = startService("ingest", {
    NATS_URL: url,
    PORT: String(await freePort()),
    HOST: "127.0.0.1",
    INGEST_AUTH_MODE: "none",
    ...env,
  });
  const code = await Promise.race([
    ingest.exited,
    new Promise((resolve) => setTimeout(resolve, 30_000, "still running")),
  ]);
  await ingest.stop();
  OUTPUTS.push(ingest.lines.join("\n"));
  assert.equal(code, 1, ingest.lines.join("\n"));
  const records = ingest.lines.map((line) => JSON.parse(line) as { level: number; msg: string; time: number });
  const fatal = records.find((record) => record.level === 60);
  assert.match(fatal?.msg ?? "", new RegExp(`^Cannot connect to NATS at ${url.replace(/\./g, "\\.")}: `));
  assert.match(fatal?.msg ?? "", reason);
  // From the first log line (modules loaded, however busy the machine) to giving up: one attempt, not a retry loop.
  const gaveUpMs = (fatal?.time ?? Infinity) - (records[0]?.time ?? 0);
  assert.ok(gaveUpMs < 5_000, `gave up after ${gaveUpMs} ms`);
}

const NO_CREDENTIALS =
  /NATS requires credentials \(Authorization Violation\) and none were sent: set NATS_USER \+ NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED_FILE \(or NATS_NKEY_SEED\) or NATS_CREDS_FILE$/;
const REJECTED = /NATS rejected the credentials \(Authorization Violation\): sent .*; set NATS_USER \+ NATS_PASSWORD/;

describe(
  "each authentication method: works with the right settings, one clear failure without",
  { concurrency: true },
  () => {
    test("user and password", async () => {
      const password = secret("pw-4b1d0e8c");
      const nats = await startNats({ config: `authorization { users: [ { user: ingest, password: ${password} } ] }` });
      try {
        const good = { NATS_USER: "ingest", NATS_PASSWORD: password };
        await worksWith(nats, nats.url, good);
        const [, wrong] = await Promise.all([
          opsFails(nats.url, {}, NO_CREDENTIALS),
          opsFails(nats.url, { NATS_USER: "ingest", NATS_PASSWORD: secret("not-the-password") }, REJECTED),
          serviceFails(nats.url, {}, NO_CREDENTIALS),
          serviceFails(nats.url, { NATS_USER: "ingest", NATS_PASSWORD: secret("also-wrong") }, REJECTED),
        ]);
        assert.match(wrong.stderr, /sent user "ingest" \(NATS_USER, NATS_PASSWORD\)/);
      } finally {
        await nats.stop();
      }
    });

    test("token", async () => {
      const token = secret("tok-91c7a2f0");
      const nats = await startNats({ config: `authorization { token: ${token} }` });
      try {
        await worksWith(nats, nats.url, { NATS_TOKEN: token });
        await Promise.all([
          opsFails(nats.url, {}, NO_CREDENTIALS),
          opsFails(
            nats.url,
            { NATS_TOKEN: secret("tok-wrong") },
            /NATS rejected the credentials \(Authorization Violation\): sent a token \(NATS_TOKEN\)/,
          ),
          // TLS asked for by the client, but this server has none.
          opsFails(
            nats.url,
            { NATS_TOKEN: token, NATS_TLS_CA_FILE: tls.ca },
            /the server does not offer TLS, but NATS_TLS_\* or a tls:\/\/ URL requires it/,
          ),
        ]);
      } finally {
        await nats.stop();
      }
    });

    test("NKey (seed file or inline seed)", async () => {
      const user = userNkey();
      secret(user.seed);
      const nats = await startNats({ config: `authorization { users: [ { nkey: ${user.publicKey} } ] }` });
      try {
        const seedFile = await secrets.write("ingest.nk", `${user.seed}\n`);
        await worksWith(nats, nats.url, { NATS_NKEY_SEED_FILE: seedFile });
        const stranger = userNkey();
        secret(stranger.seed);
        const [, wrong] = await Promise.all([
          opsFails(nats.url, {}, NO_CREDENTIALS),
          opsFails(nats.url, { NATS_NKEY_SEED: stranger.seed }, REJECTED),
          serviceFails(nats.url, { NATS_NKEY_SEED: stranger.seed }, REJECTED),
        ]);
        assert.match(wrong.stderr, new RegExp(`sent NKey ${stranger.publicKey} \\(NATS_NKEY_SEED\\)`));
      } finally {
        await nats.stop();
      }
    });

    test("operator mode: a user JWT in a .creds file", async () => {
      const nats = await startNats({ config: operator.config });
      try {
        const creds = operator.userCreds("ingest");
        secret(/SU[A-Z0-9]+/.exec(creds)?.[0] ?? "no seed in creds");
        await worksWith(nats, nats.url, { NATS_CREDS_FILE: await secrets.write("ingest.creds", creds) });
        const stranger = await secrets.write("stranger.creds", operator.strangerCreds("stranger"));
        const [, wrong] = await Promise.all([
          opsFails(nats.url, {}, NO_CREDENTIALS),
          opsFails(nats.url, { NATS_CREDS_FILE: stranger }, REJECTED),
          serviceFails(nats.url, {}, NO_CREDENTIALS),
        ]);
        assert.match(wrong.stderr, /sent user U[A-Z0-9]+ of NATS_CREDS_FILE=/);
      } finally {
        await nats.stop();
      }
    });

    test("mutual TLS (verify: true), also through a tls:// URL", async () => {
      const nats = await startNats({ config: tlsBlock(tls, true) });
      const tlsUrl = nats.url.replace("nats://", "tls://");
      try {
        const good = { NATS_TLS_CA_FILE: tls.ca, NATS_TLS_CERT_FILE: tls.clientCert, NATS_TLS_KEY_FILE: tls.clientKey };
        await worksWith(nats, tlsUrl, good);
        await Promise.all([
          opsFails(
            nats.url,
            {},
            /the server's TLS certificate is not trusted \(unable to verify the first certificate\): set NATS_TLS_CA_FILE to the CA certificate that signed it$/,
          ),
          opsFails(
            nats.url,
            { ...good, NATS_TLS_CA_FILE: tls.otherCa },
            new RegExp(`NATS_TLS_CA_FILE \\(${tls.otherCa}\\) is not the CA that signed it$`),
          ),
          // A verify: true server drops a client without an accepted certificate only after the TLS 1.3 handshake: the client sees silence until its timeout (5 s in aa-ops).
          opsFails(
            tlsUrl,
            { NATS_TLS_CA_FILE: tls.ca },
            /no answer within 5 s after the TLS handshake; .*no client certificate was sent: set NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE$/,
          ),
          opsFails(
            nats.url,
            { ...good, NATS_TLS_CERT_FILE: tls.foreignClientCert, NATS_TLS_KEY_FILE: tls.foreignClientKey },
            /check that the certificate in NATS_TLS_CERT_FILE \(.*foreign-client\.pem\) is signed by a CA the server trusts$/,
          ),
          serviceFails(nats.url, {}, /the server's TLS certificate is not trusted/),
        ]);
        const log = await nats.log();
        assert.match(log, /TLS handshake error: tls: client didn't provide a certificate/);
        assert.match(log, /failed to verify client certificate: x509: certificate signed by unknown authority/);
      } finally {
        await nats.stop();
      }
    });
  },
);

describe("bad settings are a configuration error naming the variable", () => {
  const problemsOf = (env: Env): string[] => {
    try {
      natsSecurityFromEnv(env);
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.problems;
    }
  };

  test("each inconsistency, never quoting a secret", async () => {
    const seedFile = await secrets.write("garbage.nk", "not a seed\n");
    const cases: [Env, RegExp][] = [
      [{ NATS_USER: "ingest" }, /^NATS_USER is set but NATS_PASSWORD is not$/],
      [{ NATS_PASSWORD: "pw-only" }, /^NATS_PASSWORD is set but NATS_USER is not$/],
      [
        { NATS_TOKEN: "tok-x", NATS_USER: "u", NATS_PASSWORD: "pw-x" },
        /^set one NATS authentication method, not several: NATS_USER \+ NATS_PASSWORD, NATS_TOKEN$/,
      ],
      [
        { NATS_NKEY_SEED: "SUAAA", NATS_NKEY_SEED_FILE: seedFile },
        /^set one NATS authentication method, not several: NATS_NKEY_SEED, NATS_NKEY_SEED_FILE$/,
      ],
      [{ NATS_CREDS_FILE: `${secrets.dir}/missing.creds` }, /^NATS_CREDS_FILE cannot be read: ENOENT/],
      [
        { NATS_CREDS_FILE: tls.ca },
        /^NATS_CREDS_FILE \(.*ca\.pem\) holds no valid user credentials: unable to parse credentials$/,
      ],
      [{ NATS_NKEY_SEED_FILE: seedFile }, /^NATS_NKEY_SEED_FILE \(.*garbage\.nk\) holds no valid user credentials: /],
      [{ NATS_NKEY_SEED: "SUAAAAAAAAAA" }, /^NATS_NKEY_SEED holds no valid user credentials: nkeys: /],
      [{ NATS_TLS_CERT_FILE: tls.clientCert }, /^NATS_TLS_CERT_FILE is set but NATS_TLS_KEY_FILE is not/],
      [{ NATS_TLS_KEY_FILE: tls.clientKey }, /^NATS_TLS_KEY_FILE is set but NATS_TLS_CERT_FILE is not$/],
      [
        { NATS_TLS_CERT_FILE: tls.clientCert, NATS_TLS_KEY_FILE: tls.foreignClientKey },
        /^NATS_TLS_KEY_FILE \(.*\) is not the private key of the certificate in NATS_TLS_CERT_FILE$/,
      ],
      [{ NATS_TLS_CA_FILE: seedFile }, /^NATS_TLS_CA_FILE \(.*\) is not a PEM certificate/],
      [{ NATS_INBOX_PREFIX: "_INBOX.*" }, /^NATS_INBOX_PREFIX must be a subject prefix without wildcards or spaces/],
    ];
    for (const [env, expected] of cases) {
      const problems = problemsOf(env);
      assert.equal(problems.length, 1, `${JSON.stringify(env)}: ${problems.join("; ")}`);
      assert.match(problems[0] ?? "", expected);
      for (const value of [env.NATS_PASSWORD, env.NATS_TOKEN, env.NATS_NKEY_SEED])
        if (value) assert.ok(!problems[0]?.includes(value), problems[0]);
    }
    assert.deepEqual(problemsOf({ NATS_USER: "", NATS_TOKEN: "  " }), [], "empty values count as unset");
  });

  test("credentials inside NATS_URL are refused without being quoted: the client ignores them and the URL is logged", () => {
    assert.throws(
      () =>
        natsConnectionOptions(natsSecurityFromEnv({}), [
          "nats://127.0.0.1:4222",
          "nats://ingest:pw-in-url@10.0.0.2:4222",
        ]),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^NATS_URL must not carry credentials .* Set NATS_USER \+ NATS_PASSWORD, NATS_TOKEN/.test(
          error.problems[0] ?? "",
        ) &&
        !error.message.includes("pw-in-url"),
    );
  });

  test("aa-ops, the ops scripts and the services report it before connecting", async () => {
    const env = { NATS_URL: "nats://127.0.0.1:1", NATS_USER: "ingest" };
    const ops = await aaOps(["stream", "ls"], env);
    assert.equal(ops.code, 1, showRun(ops));
    assert.equal(
      ops.stderr.trim(),
      "aa-ops: error: Invalid NATS connection settings: NATS_USER is set but NATS_PASSWORD is not",
    );
    const script = await runOpsScript("create-consumers", env);
    assert.equal(script.code, 1, script.out);
    assert.match(script.out, /^❌ Invalid NATS connection settings: NATS_USER is set but NATS_PASSWORD is not$/m);
    await serviceFailsWithConfigError(env);
  });
});

async function serviceFailsWithConfigError(env: Env): Promise<void> {
  const ingest = startService("ingest", {
    ...env,
    PORT: String(await freePort()),
    HOST: "127.0.0.1",
    INGEST_AUTH_MODE: "none",
  });
  assert.equal(await ingest.exited, 1, ingest.lines.join("\n"));
  assert.match(ingest.messages().join("\n"), /Invalid configuration:\n {2}- NATS_USER is set but NATS_PASSWORD is not/);
}
