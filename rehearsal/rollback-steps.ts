import pg from "pg";
import { waitFor } from "../test/helpers/wait.js";
import { LEGACY_STREAM } from "./legacy/contract.js";
import {
  aaVerify,
  drained,
  legacyIngestTarget,
  newIngestTarget,
  restartNew,
  serviceFlags,
  type Step,
} from "./steps.js";
import type { World } from "./world.js";

const RAW_DURABLES = ["normalize-hrv-durable", "normalize-sleep-durable"];

export const ROLLBACK_STEPS = {
  moveBack: {
    section: "Rollback Procedure",
    heading: "Step 1: Move the subjects back",
    async play(world) {
      await world.ops(["migrate", "--to", "single", "--drain-ignore", "normalize-oura", ...serviceFlags(world)]);
    },
  },
  revert: {
    section: "Rollback Procedure",
    heading: "Step 2: Revert the configuration and restart",
    async play(world) {
      world.mode = "single";
      await world.stopNew("ingest");
      await restartNew(world);
    },
  },
  verify: {
    section: "Rollback Procedure",
    heading: "Step 3: Verify Rollback",
    async play(world) {
      await aaVerify(world, "single");
    },
  },
  health: {
    section: "Rollback Procedure",
    heading: "Step 4: Health Check",
    async play(world) {
      // The runbook's check: one reading through the ingest in service, then its row. Not the producers'
      // next readings: their budget (a count) may be spent by now on a slow machine.
      const eventId = `rollback-verification-${world.path}`;
      const target = newIngestTarget(world);
      const response = await fetch(`${target.url}/ingest/hrv`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${target.apiKey ?? ""}` },
        body: JSON.stringify({ userId: "rollback-verification-test", date: "2026-12-01", rmssd: 60, eventId }),
      });
      if (response.status !== 202) throw new Error(`POST /ingest/hrv: ${response.status} ${await response.text()}`);
      const db = new pg.Client({ connectionString: world.url("postgres") });
      await db.connect();
      try {
        await waitFor(
          async () => (await db.query("SELECT 1 FROM hrv_data WHERE event_id = $1", [eventId])).rowCount === 1,
          {
            timeoutMs: 30_000,
            what: "the rollback verification reading in hrv_data",
          },
        );
      } finally {
        await db.end();
      }
    },
  },
  imageRollback: {
    section: "Rollback Procedure",
    heading: "Step 5: Roll the image back to 1.0",
    async play(world) {
      // 1.0's ingest first, so producers always have somewhere to post; the new ingest stops publishing.
      await world.startLegacy("ingest");
      world.producers.retarget(legacyIngestTarget(world));
      await world.stopNew("ingest");
      // Events the new ingest published carry `source`, which 1.0's normalize dead-letters: the new
      // normalize drains them before it stops (the check of this step).
      for (const durable of RAW_DURABLES) await drained(world, LEGACY_STREAM, durable);
      await world.stopNew("normalize");
      await world.startLegacy("normalize");
    },
  },
} satisfies Record<string, Step>;

/** The new normalize crash-loops after the handoff: the rollback that does not need it (no new image at the end). */
export const BROKEN_NORMALIZE_STEPS = {
  forwardUnprocessed: {
    section: "Rollback Procedure",
    heading: "Step 1: Move the subjects back",
    async play(world) {
      // The crash: killed under load, holding messages it never acked; nothing restarts it.
      world.services.normalize?.process.kill("SIGKILL");
      await world.services.normalize?.exited;
      world.services.normalize = undefined;
      // Ingest back to 1.0 first (its events carry no source), then the forward with the ledger.
      await world.startLegacy("ingest");
      world.producers.retarget(legacyIngestTarget(world));
      await world.stopNew("ingest");
      const { stdout } = await world.ops([
        "migrate",
        "--to",
        "single",
        "--skip-health-check",
        "--forward-unprocessed",
        "--drain-ignore",
        "normalize-oura",
        ...serviceFlags(world),
      ]);
      if (!/left 0/.test(stdout) || /left [1-9]/.test(stdout)) throw new Error(`forward ledger: ${stdout}`);
      world.notes.push(...stdout.split("\n").filter((line) => line.startsWith("✅ AA_")));
    },
  },
  legacyNormalize: {
    section: "Rollback Procedure",
    heading: "Step 2: Revert the configuration and restart",
    async play(world) {
      world.mode = "single";
      await world.startLegacy("normalize");
      for (const durable of RAW_DURABLES.slice(0, 1)) await drained(world, LEGACY_STREAM, durable);
      if (Object.values(world.services).some(Boolean)) throw new Error("a process of the new image still runs");
    },
  },
} satisfies Record<string, Step>;

export const RETIRE_STEP = {
  section: "Deployment Steps",
  heading: "Step 4: Retire 1.0's access",
  async play(world: World) {
    const check = await world.psql("deploy/postgres/retire-legacy-role.sql", ["legacy_role=athlete"]);
    if (!/\bf\s*\|\s*f\s*\|\s*f\b/.test(check)) throw new Error(`retire-legacy-role.sql check: ${check}`);
    await world.nats.reload("final");
    // The components keep their plain connections across the reload; re-created, they log in over TLS.
    await world.stopNew("ingest");
    await restartNew(world);
    await world.ops(["status"]);
    await aaVerify(world, world.mode);
  },
} satisfies Step;
