/** Sizes of every measurement; `--quick` shrinks them to a smoke run that still exercises each one. */
export interface BenchSizes {
  /** Raw JetStream publish and consume + ack, messages. */
  rawMessages: number;
  /** Un-acked publishes kept in flight by the pipelined publishers (the raw publish limit's window: 256). */
  publishWindow: number;
  /** Raw PostgreSQL upsert: rows, and rows per statement. */
  upsertRows: number;
  upsertBatch: number;
  /** autocannon runs: seconds and connections. */
  bareSeconds: number;
  singleSeconds: number;
  singleConnections: number;
  /** The seed design's load, s (its rate is its consumer's, whatever the duration). */
  seedSeconds: number;
  batchSeconds: number;
  batchConnections: number;
  batchItems: number;
  /** Upper bound on requests of a saturation run, whatever its duration. */
  maxRequests: number;
  latencySeconds: number;
  /** Seconds at the latency rate before the measured window (reported on their own, not in the target). */
  latencyWarmupSeconds: number;
  latencyRate: number;
  /** The heap burst: waves of concurrent 2 MiB batches, each wave's requests sent at once. */
  burstWaves: number;
  burstPerWave: number;
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
  /** Measurements in one invocation; the report gives each figure's median. */
  runs: number;
  /** BENCH_DATABASE_URL; unset: the bench starts a private PostgreSQL cluster. */
  databaseUrl: string | undefined;
  /** `--profile DIR`: each service process writes a V8 CPU profile under DIR (bench/profile-summary.ts reads them). */
  profileDir: string | undefined;
  sizes: BenchSizes;
}

const FULL: BenchSizes = {
  rawMessages: 100_000,
  publishWindow: 256,
  upsertRows: 200_000,
  upsertBatch: 1_000,
  bareSeconds: 10,
  singleSeconds: 15,
  singleConnections: 100,
  seedSeconds: 5,
  batchSeconds: 15,
  batchConnections: 8,
  batchItems: 100,
  maxRequests: 1_000_000,
  latencySeconds: 10,
  latencyWarmupSeconds: 5,
  latencyRate: 1_000,
  burstWaves: 3,
  burstPerWave: 50,
  backlog: 200_000,
  drainTimeoutMs: 240_000,
  runTimeoutMs: 20 * 60_000, // per run
};

const QUICK: BenchSizes = {
  rawMessages: 5_000,
  publishWindow: 256,
  upsertRows: 10_000,
  upsertBatch: 1_000,
  bareSeconds: 2,
  singleSeconds: 3,
  singleConnections: 20,
  seedSeconds: 2,
  batchSeconds: 3,
  batchConnections: 4,
  batchItems: 100,
  maxRequests: 50_000,
  latencySeconds: 3,
  latencyWarmupSeconds: 1,
  latencyRate: 200,
  burstWaves: 1,
  burstPerWave: 20,
  backlog: 5_000,
  drainTimeoutMs: 45_000,
  runTimeoutMs: 240_000,
};

const USAGE = "usage: bench/run.ts [--json] [--quick] [--runs N] [--profile DIR]";

/** `--json`, `--quick`, `--runs N`, `--profile DIR`; BENCH_DATABASE_URL picks the database for the bench's schema. */
export function parseOptions(argv: readonly string[], env: Record<string, string | undefined>): BenchOptions {
  const rest = [...argv];
  let runs = 1;
  const at = rest.indexOf("--runs");
  if (at >= 0) {
    const value = rest[at + 1] ?? "";
    if (!/^[1-9]\d*$/.test(value)) throw new Error(`--runs takes a positive integer, got "${value}"; ${USAGE}`);
    runs = Number(value);
    rest.splice(at, 2);
  }
  let profileDir: string | undefined;
  const profileAt = rest.indexOf("--profile");
  if (profileAt >= 0) {
    profileDir = rest[profileAt + 1];
    if (profileDir === undefined || profileDir.startsWith("--"))
      throw new Error(`--profile takes a directory for the CPU profiles; ${USAGE}`);
    rest.splice(profileAt, 2);
  }
  const unknown = rest.filter((a) => a !== "--json" && a !== "--quick");
  if (unknown.length > 0) throw new Error(`unknown argument(s) ${unknown.join(" ")}; ${USAGE}`);
  const quick = rest.includes("--quick");
  return {
    json: rest.includes("--json"),
    quick,
    runs,
    databaseUrl: env.BENCH_DATABASE_URL || undefined,
    profileDir,
    sizes: quick ? QUICK : FULL,
  };
}
