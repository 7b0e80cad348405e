import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import { DEFAULT_TOPOLOGY_NAMES, toConsumerConfig, toStreamConfig, topologyFor, type StreamMode } from "@aa/event-bus";
import { findPsql, freePort } from "@aa/local-stack";
import { natsConnectionOptions, natsSecurityFromEnv } from "@aa/service-kit";
import { aaOps, showRun, type CliRun } from "../test/helpers/cli.js";
import { ROOT } from "../test/helpers/ops-scripts.js";
import { startPrivatePostgres, type PrivatePostgres } from "../test/helpers/postgres.js";
import { startNodeProgram, startService, type RunningService } from "../test/helpers/service.js";
import { waitFor } from "../test/helpers/wait.js";
import { LEGACY_HRV_DURABLE, LEGACY_STREAM } from "./legacy/contract.js";
import { startCutoverNats, type Component, type CutoverNats } from "./nats-cutover.js";
import { startProducers, type Producers } from "./producers.js";

const run = promisify(execFile);
export const DATABASE = "athlete_normalize";

/** One rehearsal path's machine: a private PostgreSQL cluster and nats-server, 1.0, the new image, producers. */
export interface World {
  path: string;
  pg: PrivatePostgres;
  nats: CutoverNats;
  /** The database URL of a role (trust authentication: the cluster is private). */
  url(role: string): string;
  ports: { legacyIngest: number; ingest: number; ingestAdmin: number; normalize: number };
  legacy: { ingest?: RunningService; normalize?: RunningService };
  services: { ingest?: RunningService; normalize?: RunningService };
  /** Log lines of every 1.0 process this path started, in order (stopped ones included). */
  legacyLog: string[];
  /** Index into legacyLog: 1.0's lines from the planned NATS restart (the transition) up to here are expected. */
  plannedBlip?: { from: number; to: number };
  producers: Producers;
  /** Lines worth keeping in the report (e.g. aa-ops's forward ledger). */
  notes: string[];
  apiKey?: string;
  mode: StreamMode;
  psql(file: string, vars?: string[]): Promise<string>;
  ops(args: string[], expect?: number[]): Promise<CliRun>;
  opsEnv(): Record<string, string>;
  startLegacy(role: "ingest" | "normalize"): Promise<RunningService>;
  stopLegacy(role: "ingest" | "normalize"): Promise<void>;
  startNew(role: "ingest" | "normalize"): Promise<RunningService>;
  stopNew(role: "ingest" | "normalize"): Promise<void>;
  /** Runs `work` on a JetStream manager logged in as ops (the rehearsal's own eyes), then disconnects. */
  withJsm<T>(work: (jsm: JetStreamManager) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const PSQL = findPsql();
const ROLE_OF: Record<"ingest" | "normalize", Component> = { ingest: "ingest", normalize: "normalize" };

/** 1.0's NATS state: the legacy stream, the DLQ and the HRV durable its runbook created. */
async function legacyTopology(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const single = topologyFor("single", DEFAULT_TOPOLOGY_NAMES, 1);
  for (const stream of single.streams.filter((s) => s.name === LEGACY_STREAM || s.name === "AA_DLQ"))
    await jsm.streams.add(toStreamConfig(stream));
  const hrv = single.consumers.find((c) => c.durable === LEGACY_HRV_DURABLE)!;
  await jsm.consumers.add(LEGACY_STREAM, toConsumerConfig(hrv));
}

async function legacyDatabase(cluster: PrivatePostgres): Promise<void> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query("CREATE ROLE athlete LOGIN");
  await admin.query(`CREATE DATABASE ${DATABASE} OWNER athlete`);
  await admin.end();
}

export async function createWorld(path: string, load: { perSecond: number; maxEvents: number }): Promise<World> {
  if (!PSQL) throw new Error("psql is required (roles.sql is a psql script)");
  const cluster = await startPrivatePostgres();
  await legacyDatabase(cluster);
  const nats = await startCutoverNats();
  const admin = await connect({ servers: nats.server.url });
  await legacyTopology(admin);
  await admin.close();
  const ports = {
    legacyIngest: await freePort(),
    ingest: await freePort(),
    ingestAdmin: await freePort(),
    normalize: await freePort(),
  };
  const url = (role: string) => `postgres://${role}@127.0.0.1:${cluster.port}/${DATABASE}`;
  const legacyLog: string[] = [];
  const world: World = {
    path,
    pg: cluster,
    nats,
    url,
    ports,
    legacy: {},
    services: {},
    legacyLog,
    producers: undefined as unknown as Producers,
    notes: [],
    mode: "single",
    async psql(file, vars = []) {
      const args = [url("postgres"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "schema=public"];
      const { stdout } = await run(PSQL, [...args, ...vars.flatMap((v) => ["-v", v]), "-f", file], { cwd: ROOT });
      return stdout;
    },
    opsEnv() {
      const phase = nats.phase();
      return { ...nats.env("ops", phase), NODE_ENV: "production", REPLICAS: "1", DATABASE_URL: url("athlete_ops") };
    },
    async ops(args, expect = [0]) {
      const result = await aaOps(args, world.opsEnv());
      if (!expect.includes(result.code ?? -1)) throw new Error(`aa-ops ${args.join(" ")}: ${showRun(result)}`);
      return result;
    },
    async startLegacy(role) {
      const env = {
        NATS_URL: nats.server.url,
        ...(role === "ingest" ? { PORT: String(ports.legacyIngest) } : { DATABASE_URL: url("athlete") }),
      };
      const child = startNodeProgram(`legacy-${role}`, ["--import", "tsx", "rehearsal/legacy/main.ts", role], env);
      // Every line, also of a process stopped later: the audit scans them all.
      child.process.stdout?.on("data", (c: Buffer) => legacyLog.push(...c.toString().split("\n").filter(Boolean)));
      child.process.stderr?.on("data", (c: Buffer) => legacyLog.push(...c.toString().split("\n").filter(Boolean)));
      world.legacy[role] = child;
      await child.waitForLog(role === "ingest" ? "[legacy-ingest] Listening" : "[legacy-normalize] consuming", 30_000);
      return child;
    },
    async stopLegacy(role) {
      const code = await world.legacy[role]?.stop();
      if (code !== 0 && code !== null) throw new Error(`1.0 ${role} exited with ${code}`);
      world.legacy[role] = undefined;
    },
    async startNew(role) {
      const common = {
        ...nats.env(ROLE_OF[role]),
        NODE_ENV: "production",
        EVENT_STREAM_MODE: world.mode,
        FEATURE_SERVICE_MANAGES_STREAMS: "false",
        FEATURE_SERVICE_MANAGES_CONSUMERS: "false",
        HOST: "127.0.0.1",
        RETRY_BUDGET_MS: "3000",
      };
      const env =
        role === "ingest"
          ? {
              ...common,
              PORT: String(ports.ingest),
              ADMIN_PORT: String(ports.ingestAdmin),
              INGEST_AUTH_MODE: "api-key",
              RATE_LIMIT_MAX: "0",
              API_KEY_REFRESH_MS: "500",
              DATABASE_URL: url("athlete_ingest"),
            }
          : {
              ...common,
              PORT: String(ports.normalize),
              RUN_MIGRATIONS: "false",
              DATABASE_URL: url("athlete_normalize"),
            };
      const service = startService(role, env);
      world.services[role] = service;
      await service.waitForLog(`[${role}] Listening on`, 30_000);
      return service;
    },
    async stopNew(role) {
      await world.services[role]?.stop();
      world.services[role] = undefined;
    },
    async withJsm(work) {
      const env = nats.env("ops");
      const servers = [env.NATS_URL!];
      const nc = await connect({ servers, ...natsConnectionOptions(natsSecurityFromEnv(env), servers) });
      try {
        return await work(await jetstreamManager(nc));
      } finally {
        await nc.close();
      }
    },
    async close() {
      await world.producers?.stop();
      await Promise.all([...Object.values(world.legacy), ...Object.values(world.services)].map((s) => s?.stop()));
      await nats.remove();
      await cluster.destroy();
    },
  };
  await world.startLegacy("normalize");
  await world.startLegacy("ingest");
  world.producers = startProducers({ url: `http://127.0.0.1:${ports.legacyIngest}` }, { prefix: path, ...load });
  await waitFor(() => world.producers.ledger.count("acked") > 0, { timeoutMs: 20_000, what: "1.0 accepting readings" });
  return world;
}

export { waitFor };
