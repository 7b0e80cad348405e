import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { parseStreamMode, type StreamMode } from "./mode.js";
import { applyPlan, readTopology, type ChangeOutcome } from "./topology/apply.js";
import { planTopology } from "./topology/diff.js";
import { topologyFor, topologyNamesFromEnv, type TopologyNames } from "./topology/spec.js";

/** The event-bus settings every service shares, parsed once with the rest of its config. */
export interface EventBusSettings {
  mode: StreamMode;
  names: TopologyNames;
}

/** Parses EVENT_STREAM_MODE and the name overrides of an env-like record; throws StreamModeError naming a bad value. */
export function eventBusSettings(env: Readonly<Record<string, string | undefined>>): EventBusSettings {
  return { mode: parseStreamMode(env.EVENT_STREAM_MODE), names: topologyNamesFromEnv(env) };
}

/**
 * FEATURE_SERVICE_MANAGES_STREAMS: applies the safe part of the mode's stream plan
 * (create missing, update real differences). Subjects owned by another stream are
 * left alone and logged: only the migration hands them over.
 */
export async function manageStreams(
  nc: NatsConnection,
  settings: EventBusSettings,
  replicas: number,
  logger: Logger,
): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const desired = topologyFor(settings.mode, settings.names, replicas);
  const plan = planTopology(await readTopology(jsm), { ...desired, consumers: [] });
  const outcomes = await applyPlan(jsm, plan, {
    onChange: (outcome) => logStreamOutcome(outcome, settings.mode, logger),
  });
  // A stream the service cannot create or correct stops the startup.
  const failed = outcomes.find((outcome) => outcome.result === "failed");
  if (failed !== undefined) throw failed.error;
  return jsm;
}

function logStreamOutcome(outcome: ChangeOutcome, mode: StreamMode, logger: Logger): void {
  if (outcome.type !== "stream") return;
  const { change } = outcome;
  if (outcome.result === "applied")
    logger.info({ fields: change.fields }, `[event-bus] Stream ${change.spec.name}: ${change.kind}d`);
  if (outcome.result !== "skipped") return;
  const owners = change.conflicts.map((c) => `${c.subject} owned by ${c.ownedBy}`).join(", ");
  const why = owners || change.fields.map((f) => f.field).join(", ");
  logger.warn(
    `[event-bus] Stream ${change.spec.name} not applied (${change.kind}): ${why}. Run: npx aa-ops migrate --to ${mode}`,
  );
}
