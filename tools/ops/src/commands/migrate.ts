import { topologyNamesFromEnv } from "@aa/event-bus";
import { durationMs, WHOLE_SECONDS } from "../duration.js";
import { header, writeJson } from "../output.js";
import { migrate, type MigrateOptions } from "../migration/execute.js";
import { usageError, type Command, type CommandInput } from "./command.js";
import type { HealthTarget } from "../migration/preflight.js";
import {
  DEFAULT_INGEST_URL,
  DEFAULT_NORMALIZE_URL,
  INGEST_ADMIN_URL_OPTION,
  ingestAdminUrlOf,
  normalizeUrlOf,
} from "./service-options.js";
import { asUsage, desiredTopology } from "./topology.js";
import { natsUrlSource, productionReplicasRefusal, replicasSettingWithSource } from "../settings.js";

function drainTimeoutMs(option: string | boolean | undefined): number {
  if (option === undefined) return 30 * 60_000;
  const ms = typeof option === "string" ? durationMs(option, WHOLE_SECONDS) : undefined;
  if (ms !== undefined) return ms;
  throw usageError(`--drain-timeout takes whole seconds, got ${JSON.stringify(option)}`);
}

function drainIgnoreOf(option: string | boolean | undefined): string[] {
  if (option === undefined) return [];
  if (typeof option === "string" && option.trim() !== "")
    return option
      .split(",")
      .map((d) => d.trim())
      .filter((d) => d !== "");
  throw usageError("--drain-ignore takes durable names, comma-separated");
}

function forwardUnprocessedOf(input: CommandInput, to: string): boolean {
  if (input.options["forward-unprocessed"] !== true) return false;
  if (to !== "single") throw usageError("--forward-unprocessed is a rollback path: it goes with --to single only");
  return true;
}

function healthTargets(input: CommandInput): HealthTarget[] {
  if (input.options["skip-health-check"] === true) return [];
  return [
    { service: "ingest", url: `${ingestAdminUrlOf(input)}/health` },
    { service: "normalize", url: `${normalizeUrlOf(input)}/health` },
  ];
}

type CheckedOptions = Omit<MigrateOptions, "write"> & { replicasFrom: string };

function optionsOf(input: CommandInput): CheckedOptions {
  if (typeof input.options.to !== "string")
    throw usageError("--to is required: multi (the cutover) or single (the rollback)");
  const desired = desiredTopology({
    options: { mode: input.options.to, replicas: input.options.replicas },
    env: input.env,
  });
  const replicas = asUsage(() => replicasSettingWithSource(input.options.replicas, input.env));
  const refusal = productionReplicasRefusal(replicas, input.env);
  return {
    to: desired.mode,
    names: topologyNamesFromEnv(input.env),
    replicas: replicas.value,
    replicasFrom: replicas.from,
    ...(refusal !== undefined ? { replicasRefusal: refusal } : {}),
    dryRun: input.options["dry-run"] === true,
    health: healthTargets(input),
    allowUnknownConsumers: input.options["allow-unknown-consumers"] === true,
    drainIgnore: drainIgnoreOf(input.options["drain-ignore"]),
    drainTimeoutMs: drainTimeoutMs(input.options["drain-timeout"]),
    forwardUnprocessed: forwardUnprocessedOf(input, desired.mode),
    pollMs: 2_000,
  };
}

const migrateCommand: Command = {
  words: ["migrate"],
  args: [],
  summary: "Move the subjects to the other topology without losing a message (the rollback is --to single)",
  details: [
    "Pre-flight (no consumer but the pipeline's durables on a source stream, services healthy, target",
    "streams and the DLQ exist or are created), then per stream pair:",
    "remove the subjects from the source stream and add them to the target at once; create the target's",
    "durables; publish a probe per subject that must land in the target; wait until the source durables",
    "have nothing pending (normalize-service drains them in either mode). Re-running resumes from what",
    "the server shows; when everything is already moved it says so and changes nothing.",
    "Afterwards set EVENT_STREAM_MODE to the new mode and restart normalize-service, then ingest-service.",
    "When the services are unhealthy (a rollback), the pre-flight says for each /health whether",
    "--skip-health-check is safe; on a drain timeout the subjects are already moved: re-run to keep waiting.",
    "",
    "When the new normalize is broken (crash-looping, OOM-killed) nothing drains the hot streams: scale it",
    "to 0, roll ingest back to 1.0, then run --to single --skip-health-check --forward-unprocessed. After",
    "the handoff it copies each hot durable's unprocessed messages (unacked ones included) to their own",
    "subjects, now stored by the legacy stream, for the 1.0 normalize: same Nats-Msg-Id, raw-received",
    "readings without `source` (1.0 rejects it; 1.0 stores them unscoped), and acks each on the hot stream",
    "only after its PubAck (a duplicate PubAck is a success). Passes repeat until one finds nothing. The",
    "ledger per durable: found, forwarded (PubAck new/duplicate), acked, left; exit 1 when anything is left.",
    "Interrupted or timed out: re-run; nothing is lost, and a copy made again within 2 min is stored once.",
  ],
  options: {
    to: { type: "string", value: "<single|multi>", help: "the topology to move to" },
    "dry-run": { type: "boolean", help: "print every step and API call, change nothing" },
    replicas: {
      type: "string",
      value: "<n>",
      help:
        "replicas of streams it creates (default REPLICAS, else 3 in production, 1 otherwise; " +
        "in production fewer than 3 only when given here)",
    },
    "ingest-url": {
      type: "string",
      value: "<url>",
      help: `ingest-service base URL for the health check (default INGEST_URL or ${DEFAULT_INGEST_URL})`,
    },
    "normalize-url": {
      type: "string",
      value: "<url>",
      help: `normalize-service base URL (default NORMALIZE_URL or ${DEFAULT_NORMALIZE_URL})`,
    },
    ...INGEST_ADMIN_URL_OPTION,
    "skip-health-check": {
      type: "boolean",
      help: "do not require healthy services before moving subjects (the refusal says when that is safe)",
    },
    "allow-unknown-consumers": {
      type: "boolean",
      help: "move even when a source stream has consumers that are not the pipeline's (they get nothing new)",
    },
    "drain-ignore": {
      type: "string",
      value: "<durable,...>",
      help: "source durables not to wait for (left until max_age), e.g. normalize-oura when Oura is off",
    },
    "forward-unprocessed": {
      type: "boolean",
      help: "rollback without the new normalize: copy the hot durables' unprocessed messages to 1.0 (see above)",
    },
    "drain-timeout": {
      type: "string",
      value: "<seconds>",
      help: "stop waiting for the drain after this long (default 1800); re-run to keep waiting",
    },
  },
  prepare(input) {
    const checked = optionsOf(input);
    return async (jsm, out) => {
      const write = input.json ? () => undefined : out;
      const { replicasFrom, ...rest } = checked;
      const options: MigrateOptions = { ...rest, write };
      // Each setting with its source: an environment read when the ops pod started may be stale.
      header(write, `JetStream topology migration → ${options.to}`, [
        ["NATS URL", `${input.natsUrl} (${natsUrlSource(input.options["nats-url"], input.env)})`],
        ["Target mode", `${options.to} (--to)`],
        ["Replicas", `${options.replicas} (${replicasFrom}) for streams it creates`],
        ["Environment", `${input.env.NODE_ENV?.trim() || "development"} (NODE_ENV)`],
        ["Dry Run", options.dryRun ? "YES" : "NO"],
        ...(options.forwardUnprocessed
          ? [["Forward unprocessed", `YES, to ${options.names.legacy}`] as [string, string]]
          : []),
      ]);
      const report = await migrate(jsm, options);
      if (input.json) writeJson(out, report);
      else if (report.ok && options.forwardUnprocessed) {
        write("");
        write(
          `✅ Rolled back to single without the new normalize${options.dryRun ? " (dry run: nothing changed)" : ""}.`,
        );
        write("   Next: deploy normalize 1.0 (EVENT_STREAM_MODE=single) to consume the forwarded messages.");
      } else if (report.ok) {
        write("");
        write(
          report.alreadyDone
            ? `✅ Already on the ${options.to} topology: nothing to do.`
            : `✅ Migration to ${options.to} complete${options.dryRun ? " (dry run: nothing changed)" : ""}.`,
        );
        write(`   Next: set EVENT_STREAM_MODE=${options.to} and restart normalize-service, then ingest-service.`);
        write(
          "   In Kubernetes: the line in deploy/k8s/overlays/<env>/event-bus-config.yaml, then " +
            "apply -k (not kubectl patch).",
        );
      } else {
        write("");
        write(
          `❌ Migration to ${options.to} stopped. Fix the cause above and run the same command ` +
            "again: it resumes from the server's state.",
        );
      }
      return report.ok ? 0 : 1;
    };
  },
};

export const migrateCommands: readonly Command[] = [migrateCommand];
