import {
  applyPlan,
  planTopology,
  readTopology,
  topologyFor,
  topologyNamesFromEnv,
  type ChangeOutcome,
  type StreamMode,
  type Topology,
} from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { writeJson, type Writer } from "../output.js";
import {
  productionReplicasRefusal,
  replicasSetting,
  replicasSettingWithSource,
  SettingError,
  streamModeSetting,
} from "../settings.js";
import { CliError, usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import { describeOutcome, planJson, writeOutcome, writePlan, type ApplyOutcome } from "../topology/report.js";

/** The desired topology from `--mode`/EVENT_STREAM_MODE, `--replicas`/REPLICAS and the name env vars. */
export function desiredTopology(input: Pick<CommandInput, "options" | "env">): Topology {
  const { options, env } = input;
  const mode = asUsage(() => streamModeSetting(options.mode, env, true));
  return topologyFor(
    mode,
    topologyNamesFromEnv(env),
    asUsage(() => replicasSetting(options.replicas, env)),
  );
}

/** A setting parsed for a command line: a bad value is a usage error (exit 2). */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof SettingError) throw usageError(error.message);
    throw error;
  }
}

/** What `topology plan` and `topology apply` work towards, and where. */
export interface TopologyTarget {
  desired: Topology;
  /** Why the desired replicas must not be applied to streams (see `productionReplicasRefusal`). */
  replicasRefusal?: string;
  /** Only shown, so the operator sees which server the plan is about. */
  natsUrl: string;
}

const heading = ({ desired, natsUrl }: TopologyTarget) => ({
  mode: desired.mode,
  replicas: desired.streams[0]?.replicas ?? 1,
  natsUrl,
});

function writeHeading(write: Writer, title: string, target: TopologyTarget): void {
  const { mode, replicas, natsUrl } = heading(target);
  write(`${title} for mode ${mode} (replicas ${replicas}) on ${natsUrl}`);
  write("");
}

/** `aa-ops topology plan`: current vs desired, each change classified; changes nothing. */
export async function topologyPlan(
  jsm: JetStreamManager,
  target: TopologyTarget,
  write: Writer,
  json: boolean,
): Promise<CliExitCode> {
  const plan = planTopology(await readTopology(jsm), target.desired);
  if (json) {
    writeJson(write, planJson(plan, heading(target)));
    return 0;
  }
  writeHeading(write, "Topology plan", target);
  writePlan(write, plan);
  return 0;
}

function writeApplySummary(write: Writer, outcomes: readonly ApplyOutcome[], dryRun: boolean, mode: StreamMode): void {
  const count = (result: ApplyOutcome["result"]) => outcomes.filter((o) => o.result === result).length;
  write("");
  const sent = dryRun ? `${count("would_apply")} would be applied` : `${count("applied")} applied`;
  write(`Apply: ${sent}, ${count("unchanged")} unchanged, ${count("skipped")} skipped, ${count("failed")} failed`);
  if (dryRun) write("Dry run: nothing was sent to the server.");
  if (outcomes.some((o) => o.kind === "needs_migration")) {
    write("needs_migration: two streams cannot own one subject; only a migration moves subjects between");
    write(`streams (and drains the old one): npx aa-ops migrate --to ${mode}. Nothing was deleted.`);
  }
  if (outcomes.some((o) => o.kind === "forbidden"))
    write("forbidden: fixed fields differ; aa-ops never deletes or recreates a stream or durable.");
}

/** `aa-ops topology apply`: exit 1 when anything was skipped or failed. */
export async function topologyApply(
  jsm: JetStreamManager,
  target: TopologyTarget,
  dryRun: boolean,
  write: Writer,
  json: boolean,
): Promise<CliExitCode> {
  const plan = planTopology(await readTopology(jsm), target.desired);
  const changesStreams = plan.streams.some((c) => c.kind === "create" || c.kind === "update");
  if (changesStreams && target.replicasRefusal !== undefined && !dryRun)
    throw new CliError(`not creating or updating streams: ${target.replicasRefusal}`);
  if (!json) writeHeading(write, dryRun ? "Topology apply (dry run)" : "Topology apply", target);
  const outcomes: ApplyOutcome[] = [];
  const onChange = (outcome: ChangeOutcome): void => {
    const described = describeOutcome(outcome);
    outcomes.push(described);
    if (!json) writeOutcome(write, described);
  };
  await applyPlan(jsm, plan, { dryRun, onChange });
  if (json) writeJson(write, { ...heading(target), dryRun, outcomes });
  else writeApplySummary(write, outcomes, dryRun, target.desired.mode);
  return outcomes.some((o) => o.result === "skipped" || o.result === "failed") ? 1 : 0;
}

const TOPOLOGY_OPTIONS = {
  mode: {
    type: "string",
    value: "<single|multi>",
    help: "Desired stream mode (default: $EVENT_STREAM_MODE; one is required)",
  },
  replicas: {
    type: "string",
    value: "<n>",
    help: "Stream replicas (num_replicas) (default: $REPLICAS, else 3 if NODE_ENV=production, else 1)",
  },
} as const;

const NAME_DETAILS = [
  "Stream and durable names follow STREAM_CORE_NAME, STREAM_VENDOR_NAME, STREAM_DLQ_NAME, STREAM_LEGACY_NAME,",
  "NORMALIZE_HRV_DURABLE, NORMALIZE_SLEEP_DURABLE and NORMALIZE_OURA_DURABLE when set.",
];

export const topologyCommands: readonly Command[] = [
  {
    words: ["topology", "plan"],
    args: [],
    summary: "Compare the server with the desired streams and durables of a mode",
    details: [
      "Each change is none, create or update (safe, in place), needs_migration (a subject is owned",
      "by another stream) or forbidden (a fixed field differs: would need delete/recreate).",
      "Changes nothing; exits 0 whatever the plan says.",
      ...NAME_DETAILS,
    ],
    options: TOPOLOGY_OPTIONS,
    prepare: (input) => {
      const target = { desired: desiredTopology(input), natsUrl: input.natsUrl };
      return (jsm, out) => topologyPlan(jsm, target, out, input.json);
    },
  },
  {
    words: ["topology", "apply"],
    args: [],
    summary: "Apply the safe changes of the plan (create/update); never deletes",
    details: [
      "Streams before consumers, only where the server differs. needs_migration and forbidden",
      "changes (and durables that depend on them) are skipped and listed; then the exit code is 1.",
      ...NAME_DETAILS,
    ],
    options: {
      ...TOPOLOGY_OPTIONS,
      "dry-run": { type: "boolean", help: "Print the API calls (subject and JSON body); send nothing" },
    },
    prepare: (input) => {
      const refusal = productionReplicasRefusal(
        asUsage(() => replicasSettingWithSource(input.options.replicas, input.env)),
        input.env,
      );
      const target = {
        desired: desiredTopology(input),
        natsUrl: input.natsUrl,
        ...(refusal !== undefined ? { replicasRefusal: refusal } : {}),
      };
      const dryRun = input.options["dry-run"] === true;
      return (jsm, out) => topologyApply(jsm, target, dryRun, out, input.json);
    },
  },
];
