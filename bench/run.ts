/**
 * `npm run bench`: the pipeline's throughput, latency and drain rate beside the raw limits of
 * this machine, measured in one run on a private nats-server and a schema of its own
 * (issue 6). `--json` prints JSON instead of the table; `--quick` is a short smoke run.
 */
import { cpus, loadavg } from "node:os";
import { createApiKey } from "@aa/api-keys";
import { drainBacklog } from "./drain.js";
import { e2eBatch, e2eLatency, e2eSingle, type PhaseContext } from "./e2e.js";
import { Cleanup, createBenchEnv, type BenchEnv } from "./env.js";
import { parseOptions, type BenchOptions } from "./options.js";
import { measureRawLimits } from "./raw.js";
import { toJson, toTable, type BenchRun } from "./report.js";
import { ServiceRunner } from "./services.js";
import { e2eTracing, TRACING_MODES } from "./tracing.js";
import { Ledger } from "./verify.js";

const progress = (message: string) => console.error(`[bench] ${message}`);

async function benchmark(options: BenchOptions, cleanup: Cleanup): Promise<BenchRun> {
  const { sizes } = options;
  const machine = { cpus: cpus().length, loadAverageAtStart: loadavg()[0] ?? 0 };
  const env = await createBenchEnv(options.databaseUrl, cleanup);
  progress(`nats-server ${env.nats.url}, schema ${env.db.schema}${options.quick ? " (quick)" : ""}`);
  progress("raw limits: JetStream publish, consume + ack, PostgreSQL upsert, bare Fastify");
  const raw = await measureRawLimits(env, sizes, cleanup);

  const runner = new ServiceRunner(env.serviceEnv, cleanup);
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
  };
  progress(`e2e single-event POSTs: ${sizes.singleSeconds} s, ${sizes.singleConnections} connections`);
  const single = await e2eSingle(ctx);
  progress(`e2e batch POSTs: ${sizes.batchSeconds} s, ${sizes.batchItems} items per request`);
  const batch = await e2eBatch(ctx);
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
  progress("audit: lost and duplicated events");
  const audit = await ctx.ledger.audit(env.db.pool);
  return {
    quick: options.quick,
    machine,
    raw,
    single,
    batch,
    latency,
    drainOne,
    drainTwo,
    drainQuiet,
    tracing,
    rss: runner.samples,
    peakRssMb: peakRss(runner),
    audit,
    dlqMessages: await dlqMessages(env),
  };
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
  abortOn(cleanup, options.sizes.runTimeoutMs);
  try {
    const run = await benchmark(options, cleanup);
    process.stdout.write(options.json ? `${JSON.stringify(toJson(run), null, 2)}\n` : `${toTable(run)}\n`);
    if (run.audit.lost > 0 || run.audit.duplicated > 0) process.exitCode = 1;
  } finally {
    progress("cleaning up");
    for (const failure of await cleanup.runAll()) progress(`cleanup failed: ${failure}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
