import {
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { ChangeKind, ConsumerChange, CurrentTopology, StreamChange, TopologyPlan } from "./diff.js";

/** Reads every stream and its consumers from the server. */
export async function readTopology(jsm: JetStreamManager): Promise<CurrentTopology> {
  const streams: StreamConfig[] = [];
  const consumers = new Map<string, ConsumerConfig[]>();
  for await (const info of jsm.streams.list()) {
    streams.push(info.config);
    const list: ConsumerConfig[] = [];
    for await (const consumer of jsm.consumers.list(info.config.name)) list.push(consumer.config);
    consumers.set(info.config.name, list);
  }
  return { streams, consumers };
}

/** One JetStream API call the plan makes (what `--dry-run` prints). */
export interface ApiCall {
  api: string;
  body: unknown;
}

export function streamCall(change: StreamChange): ApiCall | undefined {
  if (change.kind === "create") return { api: `$JS.API.STREAM.CREATE.${change.spec.name}`, body: change.config };
  if (change.kind === "update") return { api: `$JS.API.STREAM.UPDATE.${change.spec.name}`, body: change.config };
  return undefined;
}

export function consumerCall(change: ConsumerChange): ApiCall | undefined {
  if (change.kind !== "create" && change.kind !== "update") return undefined;
  // The subject nats.js v3 sends to a 2.9+ server for a named consumer with one filter.
  return {
    api: `$JS.API.CONSUMER.CREATE.${change.stream}.${change.spec.durable}.${change.spec.filterSubject}`,
    body: change.config,
  };
}

/** Sends one safe stream change; `none`, `needs_migration` and `forbidden` send nothing. */
export async function applyStreamChange(jsm: JetStreamManager, change: StreamChange): Promise<void> {
  if (change.kind === "create") await jsm.streams.add(change.config);
  else if (change.kind === "update") await jsm.streams.update(change.spec.name, change.config);
}

export async function applyConsumerChange(jsm: JetStreamManager, change: ConsumerChange): Promise<void> {
  if (change.stream === undefined) return;
  if (change.kind === "create") await jsm.consumers.add(change.stream, change.config);
  else if (change.kind === "update") await jsm.consumers.update(change.stream, change.spec.durable, change.config);
}

/** What happened to one change: sent, would be sent (dry run), nothing to send, skipped or failed. */
export type ApplyResult = "unchanged" | "applied" | "would_apply" | "skipped" | "failed";

/** One change of a plan after `applyPlan` handled it; `call` is what was (or would be) sent. */
export type ChangeOutcome = { result: ApplyResult; call: ApiCall | undefined; error?: unknown } & (
  | { type: "stream"; change: StreamChange }
  | {
      type: "consumer";
      change: ConsumerChange;
      /** Set when the durable was skipped because its stream could not be created or updated. */
      blockedBy?: string;
    }
);

export interface ApplyOptions {
  /** Decide and report every change, send nothing. */
  dryRun?: boolean;
  /** Called after each change is handled, in plan order (streams first): the place to print progress. */
  onChange?: (outcome: ChangeOutcome) => void;
}

/** Only `create` and `update` are ever sent; the other kinds would need a migration or a delete. */
export const isSafeChange = (kind: ChangeKind): kind is "create" | "update" => kind === "create" || kind === "update";

async function send(
  kind: ChangeKind,
  dryRun: boolean,
  call: () => Promise<void>,
): Promise<{ result: ApplyResult; error?: unknown }> {
  if (kind === "none") return { result: "unchanged" };
  if (!isSafeChange(kind)) return { result: "skipped" };
  if (dryRun) return { result: "would_apply" };
  try {
    await call();
    return { result: "applied" };
  } catch (error) {
    return { result: "failed", error };
  }
}

/**
 * The one topology applier: sends the safe changes of a plan, streams before consumers, and
 * never deletes or recreates anything (a stream or durable may hold data). `none` sends nothing, so
 * re-running is free (re-applying an identical config can disturb delayed redeliveries on a cluster);
 * `needs_migration` and `forbidden` are skipped; a durable whose stream
 * failed is skipped too, since its creation would fail the same way. A failed change does not
 * stop the others: every outcome is returned (and reported to `onChange`) for the caller to judge.
 */
export async function applyPlan(
  jsm: JetStreamManager,
  plan: TopologyPlan,
  options: ApplyOptions = {},
): Promise<ChangeOutcome[]> {
  const dryRun = options.dryRun === true;
  const outcomes: ChangeOutcome[] = [];
  const done = (outcome: ChangeOutcome): void => {
    outcomes.push(outcome);
    options.onChange?.(outcome);
  };
  const failedStreams = new Set<string>();
  for (const change of plan.streams) {
    const sent = await send(change.kind, dryRun, () => applyStreamChange(jsm, change));
    if (sent.result === "failed") failedStreams.add(change.spec.name);
    done({ type: "stream", change, call: streamCall(change), ...sent });
  }
  for (const change of plan.consumers) {
    const call = consumerCall(change);
    if (isSafeChange(change.kind) && change.stream !== undefined && failedStreams.has(change.stream)) {
      done({ type: "consumer", change, call, result: "skipped", blockedBy: change.stream });
      continue;
    }
    done({
      type: "consumer",
      change,
      call,
      ...(await send(change.kind, dryRun, () => applyConsumerChange(jsm, change))),
    });
  }
  return outcomes;
}

/** The outcomes that left the server short of the plan: skipped or failed. */
export const unfinished = (outcomes: readonly ChangeOutcome[]): ChangeOutcome[] =>
  outcomes.filter((o) => o.result === "skipped" || o.result === "failed");

/** A lookup's result, or undefined when its stream or consumer does not exist; other errors are thrown. */
export async function ifExists<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamNotFound || error.code === JetStreamApiCodes.ConsumerNotFound)
  );
}
