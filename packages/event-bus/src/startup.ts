import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { describeStreamMode, parseStreamMode, type StreamMode } from "./mode.js";
import { applySafeChanges, readTopology } from "./topology/apply.js";
import { planTopology } from "./topology/diff.js";
import { topologyFor, topologyNamesFromEnv, type TopologyNames } from "./topology/spec.js";

/** The event-bus settings every service shares, parsed from env once. */
export interface EventBusSettings {
  mode: StreamMode;
  names: TopologyNames;
}

/** Parses EVENT_STREAM_MODE and the name overrides; throws StreamModeError naming a bad value. Logs the runbook line. */
export function eventBusSettings(env: Record<string, string | undefined>, logger: Logger): EventBusSettings {
  const mode = parseStreamMode(env.EVENT_STREAM_MODE);
  logger.info(describeStreamMode(mode, env.EVENT_STREAM_MODE));
  return { mode, names: topologyNamesFromEnv(env) };
}

/**
 * FEATURE_SERVICE_MANAGES_STREAMS: applies the safe part of the mode's stream plan
 * (create missing, update real differences). Subjects owned by another stream are
 * left alone and logged: only the migration hands them over.
 */
export async function manageStreams(nc: NatsConnection, settings: EventBusSettings, replicas: number, logger: Logger): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const desired = topologyFor(settings.mode, settings.names, replicas);
  const plan = planTopology(await readTopology(jsm), { ...desired, consumers: [] });
  const { skipped } = await applySafeChanges(jsm, plan);
  for (const change of plan.streams) {
    if (change.kind === "create" || change.kind === "update") logger.info({ fields: change.fields }, `[event-bus] Stream ${change.spec.name}: ${change.kind}d`);
  }
  for (const change of skipped) {
    if ("conflicts" in change) {
      const owners = change.conflicts.map((c) => `${c.subject} owned by ${c.ownedBy}`).join(", ");
      logger.warn(`[event-bus] Stream ${change.spec.name} not applied (${change.kind}): ${owners || change.fields.map((f) => f.field).join(", ")}. Run: npx aa-ops migrate --to ${settings.mode}`);
    }
  }
  return jsm;
}
