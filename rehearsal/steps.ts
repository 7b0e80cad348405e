import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { DEFAULT_TOPOLOGY_NAMES, topologyFor, type StreamMode } from "@aa/event-bus";
import { newProbe, readStatus, runVerify, type VerifyTarget } from "@aa/ops";
import { aaOps, runProcess, showRun } from "../test/helpers/cli.js";
import { ROOT } from "../test/helpers/ops-scripts.js";
import { waitFor } from "../test/helpers/wait.js";
import { LEGACY_HRV_DURABLE, LEGACY_STREAM } from "./legacy/contract.js";
import type { World } from "./world.js";

const run = promisify(execFile);

/** One runbook step played locally: its heading in the runbook, and what replaces kubectl here. */
export interface Step {
  /** The runbook's section and `###` heading, word for word up to the first parenthesis or the end. */
  section:
    "Prerequisites" | "Pre-Deployment" | "Deployment Steps" | "Post-Deployment Verification" | "Rollback Procedure";
  heading: string;
  play(world: World): Promise<void>;
}

const pending = async (world: World, stream: string, durable: string): Promise<number> =>
  world.withJsm(async (jsm) => {
    const info = await jsm.consumers.info(stream, durable);
    return info.num_pending + info.num_ack_pending;
  });

/** Waits until a durable has nothing pending or unacknowledged (point of no return 1's check). */
export const drained = (world: World, stream: string, durable: string) =>
  waitFor(async () => (await pending(world, stream, durable)) === 0, {
    timeoutMs: 120_000,
    intervalMs: 250,
    what: `${stream}/${durable} drained`,
  });

const serviceFlags = (world: World) => [
  "--ingest-url",
  `http://127.0.0.1:${world.ports.ingest}`,
  "--ingest-admin-url",
  `http://127.0.0.1:${world.ports.ingestAdmin}`,
  "--normalize-url",
  `http://127.0.0.1:${world.ports.normalize}`,
];

const newIngestTarget = (world: World) => ({ url: `http://127.0.0.1:${world.ports.ingest}`, apiKey: world.apiKey });
const legacyIngestTarget = (world: World) => ({ url: `http://127.0.0.1:${world.ports.legacyIngest}` });

/** Restarts both services of the new image in `world.mode` (a rollout restart: normalize first, as the runbook). */
async function restartNew(world: World): Promise<void> {
  await world.stopNew("normalize");
  await world.startNew("normalize");
  await world.startNew("ingest");
}

export const STEPS = {
  roles: {
    section: "Prerequisites",
    heading: "Database roles and Secrets",
    async play(world) {
      await world.psql("deploy/postgres/roles.sql", ["legacy_role=athlete"]);
    },
  },
  natsTransition: {
    section: "Prerequisites",
    heading: "NATS credentials beside the 1.0 clients",
    async play(world) {
      const from = world.legacyLog.length;
      await world.nats.reload("transition");
      // Gate: 1.0 still publishes and consumes (its clients reconnected as the `legacy` user) ...
      const acked = world.producers.ledger.count("acked");
      await waitFor(() => world.producers.ledger.count("acked") > acked + 5, {
        timeoutMs: 30_000,
        what: "1.0 accepting after the NATS restart",
      });
      world.plannedBlip = { from, to: world.legacyLog.length };
      // ... and the ops NKey logs in.
      await world.ops(["status"]);
    },
  },
  opsPod: {
    section: "Pre-Deployment",
    heading: "Step 0: Pin the image in the overlays and start the aa-ops pod",
    async play(world) {
      await world.ops(["status"]);
    },
  },
  backup: {
    section: "Pre-Deployment",
    heading: "Step 1: Backup Current State",
    async play(world) {
      const dir = await mkdtemp(join(tmpdir(), "aa-rehearsal-backup-"));
      try {
        await run("pg_dump", [world.url("athlete_owner"), "-f", join(dir, "backup.sql")]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      await world.ops(["stream", "info", LEGACY_STREAM]);
      await world.ops(["consumer", "info", LEGACY_STREAM, LEGACY_HRV_DURABLE]);
    },
  },
  plan: {
    section: "Pre-Deployment",
    heading: "Step 2: Plan the topology change",
    async play(world) {
      await world.ops(["topology", "plan", "--mode", "multi"]);
      // Exit 1 listing the skipped needs_migration changes: expected on the 1.0 state.
      await world.ops(["topology", "apply", "--mode", "multi"], [1]);
    },
  },
  durables: {
    section: "Pre-Deployment",
    heading: "Step 3: Make sure every legacy durable exists",
    async play(world) {
      const result = await runProcess(process.execPath, ["docs/phase-3/ops/create-consumers.js"], {
        PATH: process.env.PATH ?? "",
        ...world.opsEnv(),
        STREAM_NAME: LEGACY_STREAM,
      });
      if (result.code !== 0) throw new Error(`create-consumers.js: ${result.stdout}${result.stderr}`);
    },
  },
  knownConsumers: {
    section: "Pre-Deployment",
    heading: "Step 4: Only known consumers on the legacy stream",
    async play(world) {
      const { stdout } = await world.ops(["consumer", "ls", LEGACY_STREAM, "--json"]);
      const names = JSON.stringify(JSON.parse(stdout));
      for (const durable of [LEGACY_HRV_DURABLE, "normalize-sleep-durable", "normalize-oura"])
        if (!names.includes(durable)) throw new Error(`consumer ls lacks ${durable}: ${stdout}`);
    },
  },
  migrateDatabase: {
    section: "Pre-Deployment",
    heading: "Step 5: Migrate the database with the new image",
    async play(world) {
      const result = await runProcess(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: world.url("athlete_owner"),
      });
      if (result.code !== 0) throw new Error(`normalize-migrate: ${result.stdout}${result.stderr}`);
      await world.psql("deploy/postgres/roles.sql", ["legacy_role=athlete"]);
      // A 1.0 pod restarted now (its startup migrations on tables it no longer owns) must come back.
      await world.stopLegacy("normalize");
      await world.startLegacy("normalize");
    },
  },
  keys: {
    section: "Pre-Deployment",
    heading: "Step 6: Issue the producers' API keys",
    async play(world) {
      const { stdout } = await world.ops([
        "keys",
        "create",
        "--json",
        "--name",
        "rehearsal-producers",
        "--tenant",
        "rehearsal",
        "--all-users",
        "--expires-in",
        "2d",
      ]);
      world.apiKey = (JSON.parse(stdout) as { token: string }).token;
    },
  },
  newImage: {
    section: "Deployment Steps",
    heading: "Step 1: Roll out the new image, still in single mode",
    async play(world) {
      // Recreate: 1.0's normalize stops before any event with `source` exists, so it refuses none.
      await world.stopLegacy("normalize");
      await world.startNew("normalize");
      await world.startNew("ingest");
      world.producers.retarget(newIngestTarget(world));
      await world.stopLegacy("ingest");
      await world.ops(["status"]);
    },
  },
  handoff: {
    section: "Deployment Steps",
    heading: "Step 2: Hand the subjects over",
    async play(world) {
      const { stdout } = await world.ops([
        "migrate",
        "--to",
        "multi",
        "--drain-ignore",
        "normalize-oura",
        ...serviceFlags(world),
      ]);
      if (process.env.REHEARSAL_VERBOSE) console.log(stdout);
    },
  },
  modeFlip: {
    section: "Deployment Steps",
    heading: "Step 3: Switch the services to multi mode",
    async play(world) {
      world.mode = "multi";
      await world.stopNew("ingest");
      await restartNew(world);
      await world.ops(["topology", "apply", "--mode", "multi"]);
    },
  },
  soak: {
    section: "Post-Deployment Verification",
    heading: "Extended Monitoring",
    async play(world) {
      // The 48 h soak, shortened: verify (the runbook asks 10 passes over 24 h) and status, three times.
      // The step's own command, soak-check, judges Prometheus' range queries; there is no Prometheus
      // here, so the checks run through the ops library in-process, against the same servers.
      for (let i = 0; i < 3; i++) await verifiedInProcess(world, world.mode);
    },
  },
} satisfies Record<string, Step>;

async function aaVerify(world: World, mode: string): Promise<void> {
  const result = await aaOps(
    ["verify", "--mode", mode, ...serviceFlags(world), "--database-url", world.url("athlete_ops")],
    {
      ...world.opsEnv(),
      INGEST_API_KEY: world.apiKey ?? "",
    },
  );
  if (result.code !== 0) throw new Error(`aa-ops verify --mode ${mode}: ${showRun(result)}`);
}

/** What `aa-ops verify --mode <mode>` checks in this world, with the settings aaVerify gives the CLI. */
function verifyTarget(world: World, mode: StreamMode): VerifyTarget {
  return {
    topology: topologyFor(mode, DEFAULT_TOPOLOGY_NAMES, 1),
    names: DEFAULT_TOPOLOGY_NAMES,
    ingestUrl: `http://127.0.0.1:${world.ports.ingest}`,
    ingestAdminUrl: `http://127.0.0.1:${world.ports.ingestAdmin}`,
    ingestApiKey: world.apiKey,
    normalizeUrl: `http://127.0.0.1:${world.ports.normalize}`,
    database: { url: world.url("athlete_ops"), schema: undefined, tls: {} },
    probeTimeoutMs: 15_000,
  };
}

/** verify's checks pass and status derives `mode` from who owns the subjects, both read as the ops user. */
async function verifiedInProcess(world: World, mode: StreamMode): Promise<void> {
  const { report, status } = await world.withJsm(async (jsm) => ({
    report: await runVerify(jsm, verifyTarget(world, mode), newProbe(new Date())),
    status: await readStatus(jsm, DEFAULT_TOPOLOGY_NAMES),
  }));
  const failed = report.checks.filter((c) => c.status !== "PASS");
  if (!report.passed)
    throw new Error(`verify --mode ${mode}: ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`);
  if (status.mode.kind !== mode) throw new Error(`status: mode ${status.mode.label}, expected ${mode}`);
}

export { aaVerify, legacyIngestTarget, newIngestTarget, serviceFlags, restartNew, ROOT };
