import { JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { ConsumerChange, CurrentTopology, StreamChange, TopologyPlan } from "./diff.js";

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
  return { api: `$JS.API.CONSUMER.CREATE.${change.stream}.${change.spec.durable}.${change.spec.filterSubject}`, body: change.config };
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

/** Applies the safe part of a plan, streams before consumers; returns what it skipped. */
export async function applySafeChanges(jsm: JetStreamManager, plan: TopologyPlan): Promise<{ skipped: (StreamChange | ConsumerChange)[] }> {
  const skipped: (StreamChange | ConsumerChange)[] = [];
  for (const change of plan.streams) {
    if (change.kind === "needs_migration" || change.kind === "forbidden") skipped.push(change);
    else await applyStreamChange(jsm, change);
  }
  const blocked = new Set(skipped.map((c) => ("config" in c && "name" in c.config ? c.config.name : "")));
  for (const change of plan.consumers) {
    if (change.kind === "forbidden" || (change.stream !== undefined && blocked.has(change.stream))) skipped.push(change);
    else await applyConsumerChange(jsm, change);
  }
  return { skipped };
}

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
