/**
 * `npm run bench`: the pipeline's throughput, latency and drain rate beside the raw limits of
 * this machine, measured in one run on a private nats-server, a private PostgreSQL cluster and a
 * schema of its own. `--json` prints JSON instead of the table; `--quick` is a
 * short smoke run; `--runs N` measures N times and reports each figure's median.
 */
import { cpus, loadavg } from "node:os";
import { createApiKey } from "@aa/api-keys";
import { startPrivatePostgres } from "../test/helpers/postgres.js";
import { CpuProbe, type PostgresScope, type ServicePids } from "./cpu.js";
import { drainBacklog } from "./drain.js";
import { e2eBatch, e2eLatency, e2eSingle, type PhaseContext } from "./e2e.js";
import { Cleanup, createBenchEnv, type BenchEnv } from "./env.js";
import { heapBurst } from "./heap-burst.js";
import { parseOptions, type BenchOptions } from "./options.js";
import { measureRawLimits } from "./raw.js";
import { toJson, toTable } from "./report.js";
import type { BenchRun } from "./run-result.js";
import { e2eSeed } from "./seed.js";
import { ServiceRunner, type BenchService } from "./services.js";
import { e2eTracing, TRACING_MODES } from "./tracing.js";
import { Ledger } from "./verify.js";

const progress = (message: string) => console.error(`[bench] ${message}`);

/** The database the bench makes its schemas in, and which postgres processes its CPU figure sums. */
interface BenchPostgres {
  url: string;
  scope: PostgresScope;
}

async function benchmark(
  options: BenchOptions,
  cleanup: Cleanup,
  postgres: BenchPostgres,
  runNumber: number,
): Promise<BenchRun> {
  const { sizes } = options;
  const machine = {
    cpus: cpus().length,
    loadAverageAtStart: loadavg()[0] ?? 0,
    startedAt: new Date().toISOString(),
    node: process.version,
  };
  const env = await createBenchEnv(postgres.url, cleanup);
  progress(`nats-server ${env.nats.url}, schema ${env.db.schema}${options.quick ? " (quick)" : ""}`);
  const cpu = new CpuProbe(env.nats.process.pid ?? 0, postgres.scope);
  progress("raw limits and their CPU: JetStream publish, consume + ack, PostgreSQL upsert, bare Fastify");
  const raw = await measureRawLimits(env, sizes, cpu, cleanup);
  progress(`seed design: single-event POSTs for ${sizes.seedSeconds} s, then its consumer's drain`);
  const seed = await e2eSeed(env, sizes, cleanup);

  const runner = new ServiceRunner(
    env.serviceEnv,
    cleanup,
    options.profileDir && `${options.profileDir}/run-${runNumber}`,
  );
  const normalize = await runner.start("normalize");
  // ingest as deployed: API keys (the key table exists once normalize has migrated). Rate limit
  // off: the bench measures capacity, and one credential would otherwise be capped at 1,000/s.
  const { token } = await createApiKey(env.db.pool, { name: "bench", tenant: "bench" });
  const ingestEnv = { INGEST_AUTH_MODE: "api-key", RATE_LIMIT_MAX: "0" };
  const ingest = await runner.start("ingest", ingestEnv);
  const ctx: PhaseContext = {
    env,
    sizes,
    ingestUrl: ingest.url,
    headers: { authorization: `Bearer ${token}` },
    ledger: new Ledger(),
    cpu,
  };
  const pids = pidsOf(ingest, normalize);
  progress(`e2e single-event POSTs: ${sizes.singleSeconds} s, ${sizes.singleConnections} connections`);
  const endSingleCpu = await ctx.cpu.begin(pids);
  const single = await e2eSingle(ctx);
  const singleCpu = await endSingleCpu(single.rows);
  progress(`e2e batch POSTs: ${sizes.batchSeconds} s, ${sizes.batchItems} items per request`);
  const endBatchCpu = await ctx.cpu.begin(pids);
  const batch = await e2eBatch(ctx);
  const batchCpu = await endBatchCpu(batch.rows);
  progress(`latency at ${sizes.latencyRate} events/s for ${sizes.latencySeconds} s`);
  const latency = await e2eLatency(ctx);
  await runner.stop(ingest);
  await runner.stop(normalize);
  progress(`drain a backlog of ${sizes.backlog} with one normalize`);
  const drainOne = await drainBacklog(ctx, runner, 1, "drain1");
  progress(`drain a backlog of ${sizes.backlog} with two normalize`);
  const drainTwo = await drainBacklog(ctx, runner, 2, "drain2");
  // What the per-event normalized-stored announcement costs: the same drain without it.
  progress(`drain a backlog of ${sizes.backlog} with one normalize, ANNOUNCE_STORED=false`);
  const drainQuiet = await drainBacklog(ctx, runner, 1, "drain-quiet", { ANNOUNCE_STORED: "false" });
  progress(`e2e single-event POSTs with tracing ${TRACING_MODES.join(" / ")}: ${sizes.singleSeconds} s each`);
  const tracing = await e2eTracing(ctx, runner, cleanup, ingestEnv);
  progress(
    `heap burst: ${sizes.burstWaves} waves of ${sizes.burstPerWave} concurrent 2 MiB batches, ` +
      "ingest with its manifest's NODE_OPTIONS",
  );
  // A runner of its own: the burst's RSS is judged against the memory limit, not in the saturation runs' peak.
  const burst = await heapBurst(ctx, new ServiceRunner(env.serviceEnv, cleanup, runner.profileDir), ingestEnv);
  progress("audit: lost and duplicated events");
  const audit = await ctx.ledger.audit(env.db.pool);
  return {
    quick: options.quick,
    batchItems: sizes.batchItems,
    machine,
    postgres: postgres.scope.kind,
    raw,
    seed,
    single,
    batch,
    latency,
    drainOne,
    drainTwo,
    drainQuiet,
    tracing,
    heapBurst: burst,
    rss: runner.samples,
    peakRssMb: peakRss(runner),
    audit,
    dlqMessages: await dlqMessages(env),
    cpu: { single: singleCpu, batch: batchCpu, drainOne: drainOne.cpu, drainQuiet: drainQuiet.cpu },
  };
}

const pidsOf = (ingest: BenchService, normalize: BenchService): ServicePids => ({
  ingest: [ingest.run.process.pid ?? 0],
  normalize: [normalize.run.process.pid ?? 0],
});

/**
 * BENCH_DATABASE_URL when set; else a private cluster, so that the postgres CPU figure is the
 * bench's alone. fsync stays on (the test helper turns it off): commits cost what they cost in
 * production, which the seed design's transaction per event depends on.
 */
async function benchPostgres(options: BenchOptions, cleanup: Cleanup): Promise<BenchPostgres> {
  if (options.databaseUrl !== undefined) return { url: options.databaseUrl, scope: { kind: "shared" } };
  progress("starting a private PostgreSQL cluster (BENCH_DATABASE_URL unset)");
  const cluster = await startPrivatePostgres({ settings: { fsync: "on" } });
  cleanup.add("stop the private PostgreSQL cluster", () => cluster.destroy());
  process.once("exit", () => cluster.destroySync());
  return { url: cluster.url, scope: { kind: "private", port: cluster.port } };
}

function peakRss(runner: ServiceRunner): { ingest: number; normalize: number } {
  const ingest = runner.peakMb("ingest");
  const normalize = runner.peakMb("normalize");
  if (ingest === undefined || normalize === undefined)
    throw new Error("no RSS sample of a service (/proc unreadable?)");
  return { ingest, normalize };
}

async function dlqMessages(env: BenchEnv): Promise<number> {
  return (await env.jsm.streams.info(env.names.dlq)).state.messages;
}

/** Ctrl-C, SIGTERM or a run past its time limit: tear everything down, then exit. */
function abortOn(cleanup: Cleanup, runTimeoutMs: number): void {
  const abort = (why: string, code: number) => {
    progress(`${why}: stopping`);
    void cleanup.runAll().finally(() => process.exit(code));
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => abort(signal, 130));
  setTimeout(() => abort(`still running after ${runTimeoutMs / 1000} s`, 1), runTimeoutMs).unref();
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const cleanup = new Cleanup();
  abortOn(cleanup, options.sizes.runTimeoutMs * options.runs);
  try {
    const postgres = await benchPostgres(options, cleanup);
    const runs: BenchRun[] = [];
    for (let n = 1; n <= options.runs; n++) {
      if (options.runs > 1) progress(`run ${n} of ${options.runs}`);
      // Each run has its own nats-server, schema and services, torn down before the next starts.
      const runCleanup = new Cleanup();
      cleanup.add(`tear down run ${n}`, () => runCleanup.runAll().then(reportFailures));
      runs.push(await benchmark(options, runCleanup, postgres, n));
      reportFailures(await runCleanup.runAll());
    }
    process.stdout.write(options.json ? `${JSON.stringify(toJson(runs), null, 2)}\n` : `${toTable(runs)}\n`);
    if (runs.some((run) => run.audit.lost > 0 || run.audit.duplicated > 0)) process.exitCode = 1;
  } finally {
    progress("cleaning up");
    reportFailures(await cleanup.runAll());
  }
}

function reportFailures(failures: string[]): void {
  for (const failure of failures) progress(`cleanup failed: ${failure}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
