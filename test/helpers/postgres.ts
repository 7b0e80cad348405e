import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, chown, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./nats.js";
import { waitFor } from "./wait.js";

const run = promisify(execFile);

/** The shared test database (CI and sessions: the machine's PostgreSQL, trust auth). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestSchema {
  url: string;
  schema: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A schema of its own for one test file, dropped at the end. */
export async function createTestSchema(url = TEST_DATABASE_URL): Promise<TestSchema> {
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
}

export interface PrivatePostgresOptions {
  /** Server settings passed as `-c name=value`, e.g. `{ ssl: "on" }`. */
  settings?: Record<string, string>;
  /** TCP lines of pg_hba.conf (the socket stays `local all all trust`); default: trust everyone. */
  hostRules?: string;
  /** Files written into the data directory before the first start, readable by postgres only (e.g. server.crt, server.key). */
  files?: Record<string, string>;
}

export async function pgBin(name: string): Promise<string> {
  const versions = (await readdir("/usr/lib/postgresql")).sort();
  const latest = versions.at(-1);
  if (!latest) throw new Error("no PostgreSQL under /usr/lib/postgresql");
  return join("/usr/lib/postgresql", latest, "bin", name);
}

async function writeDataFiles(data: string, uid: number, options: PrivatePostgresOptions): Promise<void> {
  const files = { ...options.files, ...(options.hostRules === undefined ? {} : { "pg_hba.conf": `local all all trust\n${options.hostRules}\n` }) };
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(data, name), content, { mode: 0o600 });
    await chown(join(data, name), uid, uid);
  }
}

/** A throwaway PostgreSQL cluster (initdb + pg_ctl as the postgres OS user) that tests may stop. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), "aa-pg-"));
  const port = await freePort();
  const { stdout } = await run("id", ["-u", "postgres"]);
  const uid = Number(stdout.trim());
  await chown(dir, uid, uid);
  const asPostgres = async (bin: string, args: string[]) => run("runuser", ["-u", "postgres", "--", await pgBin(bin), ...args]);
  await asPostgres("initdb", ["-D", join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  await writeDataFiles(join(dir, "data"), uid, options);
  const settings = Object.entries(options.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`).join("");
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
      await asPostgres("pg_ctl", ["-D", join(dir, "data"), "-l", join(dir, "log"), "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off${settings}`, "-w", "start"]);
      await waitFor(ready, { what: "private PostgreSQL" });
    },
    async stop(mode = "fast") {
      await asPostgres("pg_ctl", ["-D", join(dir, "data"), "-m", mode, "-w", "stop"]);
    },
    async destroy() {
      await cluster.stop("immediate").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}
