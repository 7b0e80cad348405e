/** Sizes of every measurement; `--quick` shrinks them to a smoke run that still exercises each one. */
export interface BenchSizes {
  /** Raw JetStream publish and consume + ack, messages. */
  rawMessages: number;
  /** Un-acked publishes kept in flight by the pipelined publishers. */
  publishWindow: number;
  /** Raw PostgreSQL upsert: rows, and rows per statement. */
  upsertRows: number;
  upsertBatch: number;
  /** autocannon runs: seconds and connections. */
  bareSeconds: number;
  singleSeconds: number;
  singleConnections: number;
  batchSeconds: number;
  batchConnections: number;
  batchItems: number;
  /** Upper bound on requests of a saturation run, whatever its duration. */
  maxRequests: number;
  latencySeconds: number;
  latencyRate: number;
  /** Backlog drained by normalize (each of the one- and two-instance runs). */
  backlog: number;
  /** Longest wait for the pipeline to commit what was accepted, in ms. */
  drainTimeoutMs: number;
  /** The whole run is abandoned (and cleaned up) after this long, in ms. */
  runTimeoutMs: number;
}

export interface BenchOptions {
  json: boolean;
  quick: boolean;
  databaseUrl: string;
  sizes: BenchSizes;
}

const FULL: BenchSizes = {
  rawMessages: 100_000,
  publishWindow: 1_000,
  upsertRows: 200_000,
  upsertBatch: 1_000,
  bareSeconds: 10,
  singleSeconds: 15,
  singleConnections: 100,
  batchSeconds: 15,
  batchConnections: 8,
  batchItems: 500,
  maxRequests: 1_000_000,
  latencySeconds: 10,
  latencyRate: 1_000,
  backlog: 200_000,
  drainTimeoutMs: 240_000,
  runTimeoutMs: 20 * 60_000,
};

const QUICK: BenchSizes = {
  rawMessages: 5_000,
  publishWindow: 1_000,
  upsertRows: 10_000,
  upsertBatch: 1_000,
  bareSeconds: 2,
  singleSeconds: 3,
  singleConnections: 20,
  batchSeconds: 3,
  batchConnections: 4,
  batchItems: 500,
  maxRequests: 50_000,
  latencySeconds: 3,
  latencyRate: 200,
  backlog: 5_000,
  drainTimeoutMs: 45_000,
  runTimeoutMs: 240_000,
};

export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

/** `--json`, `--quick`; BENCH_DATABASE_URL picks the database the bench makes its schema in. */
export function parseOptions(argv: readonly string[], env: Record<string, string | undefined>): BenchOptions {
  const unknown = argv.filter((a) => a !== "--json" && a !== "--quick");
  if (unknown.length > 0)
    throw new Error(`unknown argument(s) ${unknown.join(" ")}; usage: bench/run.ts [--json] [--quick]`);
  const quick = argv.includes("--quick");
  return {
    json: argv.includes("--json"),
    quick,
    databaseUrl: env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL,
    sizes: quick ? QUICK : FULL,
  };
}
