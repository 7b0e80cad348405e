import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { patternCovers, patternsOverlap } from "../subjects.js";
import { fromStreamConfig, toConsumerConfig, toStreamConfig } from "./server-config.js";
import type { ConsumerSpec, StreamSpec, Topology } from "./spec.js";

/** One field whose current value differs from the desired one. */
export interface FieldChange {
  field: string;
  current: unknown;
  desired: unknown;
}

/** A subject of ours that another stream already owns (JetStream error 10065 if we took it). */
export interface SubjectConflict {
  subject: string;
  ownedBy: string;
  ownerPattern: string;
}

/**
 * How a stream or consumer gets from current to desired:
 * - `none`: already as desired; nothing is sent.
 * - `create` / `update`: safe, in place.
 * - `needs_migration`: subjects are owned by another stream; only the migration hands them over.
 *   A durable is `needs_migration` when its stream does not capture its subject until then.
 * - `forbidden`: would need delete/recreate of something that may hold data.
 */
export type ChangeKind = "none" | "create" | "update" | "needs_migration" | "forbidden";

export interface StreamChange {
  kind: ChangeKind;
  spec: StreamSpec;
  config: ReturnType<typeof toStreamConfig>;
  fields: FieldChange[];
  conflicts: SubjectConflict[];
}

export interface ConsumerChange {
  kind: ChangeKind;
  spec: ConsumerSpec;
  /** The stream that will hold the durable: the desired stream owning its filter subject. */
  stream: string | undefined;
  config: ReturnType<typeof toConsumerConfig>;
  fields: FieldChange[];
  /** Other streams that hold a durable of this name now (e.g. the legacy stream before the migration). */
  elsewhere: string[];
}

export interface TopologyPlan {
  streams: StreamChange[];
  consumers: ConsumerChange[];
}

/** What the server has now: stream configs, and consumer configs per stream name. */
export interface CurrentTopology {
  streams: StreamConfig[];
  consumers: Map<string, ConsumerConfig[]>;
}

const sameSet = (a: readonly unknown[] = [], b: readonly unknown[] = []): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));

function compare(
  current: Record<string, unknown>,
  desired: Record<string, unknown>,
  fields: readonly string[],
): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of fields) {
    const have = current[field];
    const want = desired[field];
    const equal = Array.isArray(want) ? sameSet(have as unknown[] | undefined, want) : (have ?? "") === (want ?? "");
    if (!equal) changes.push({ field, current: have, desired: want });
  }
  return changes;
}

// Editable in place vs fixed at creation: JetStream rejects a change of a fixed field (a new stream or durable).
const STREAM_EDITABLE = ["subjects", "description", "max_age", "duplicate_window", "num_replicas", "discard"] as const;
const STREAM_FIXED = ["storage", "retention"] as const;
const CONSUMER_EDITABLE = ["filter_subject", "description", "ack_wait", "max_deliver", "max_ack_pending"] as const;
const CONSUMER_FIXED = ["ack_policy", "deliver_policy"] as const;

/** Our subjects that another existing stream already owns. */
export function subjectConflicts(spec: StreamSpec, streams: readonly StreamConfig[]): SubjectConflict[] {
  const conflicts: SubjectConflict[] = [];
  for (const other of streams) {
    if (other.name === spec.name) continue;
    for (const subject of spec.subjects) {
      const owner = (other.subjects ?? []).find((pattern) => patternsOverlap(pattern, subject));
      if (owner !== undefined) conflicts.push({ subject, ownedBy: other.name, ownerPattern: owner });
    }
  }
  return conflicts;
}

export function diffStream(spec: StreamSpec, current: CurrentTopology): StreamChange {
  const config = toStreamConfig(spec);
  const existing = current.streams.find((s) => s.name === spec.name);
  const conflicts = subjectConflicts(spec, current.streams);
  if (existing === undefined) {
    return { kind: conflicts.length > 0 ? "needs_migration" : "create", spec, config, fields: [], conflicts };
  }
  const fixed = compare(existing as never, config, STREAM_FIXED);
  const fields = [...fixed, ...compare(existing as never, config, STREAM_EDITABLE)];
  const kind: ChangeKind =
    fixed.length > 0 ? "forbidden" : conflicts.length > 0 ? "needs_migration" : fields.length > 0 ? "update" : "none";
  return { kind, spec, config, fields, conflicts };
}

/**
 * Only the subjects of an existing stream; every other field stays as the server has it (the update
 * merges onto the server's config). One step of a subject handoff: the change `planTopology` marks
 * `needs_migration`, made by the migration alone, and sent like any other through `applyPlan`.
 */
export function subjectsChange(
  current: Partial<StreamConfig> & { name: string },
  subjects: readonly string[],
): StreamChange {
  const config = { name: current.name, subjects: [...subjects] };
  const fields = compare(current, config, ["subjects"]);
  const spec = { ...fromStreamConfig(current), subjects: [...subjects] };
  return { kind: fields.length > 0 ? "update" : "none", spec, config, fields, conflicts: [] };
}

/** The desired stream that will own a subject, by the desired topology. */
export function owningStream(streams: readonly StreamSpec[], subject: string): string | undefined {
  return streams.find((s) => s.subjects.some((pattern) => patternCovers(pattern, subject)))?.name;
}

function durableElsewhere(durable: string, stream: string | undefined, current: CurrentTopology): string[] {
  return [...current.consumers]
    .filter(([name, list]) => name !== stream && list.some((c) => c.durable_name === durable))
    .map(([name]) => name);
}

export function diffConsumer(spec: ConsumerSpec, stream: string | undefined, current: CurrentTopology): ConsumerChange {
  const config = toConsumerConfig(spec);
  const elsewhere = durableElsewhere(spec.durable, stream, current);
  if (stream === undefined) return { kind: "forbidden", spec, stream, config, fields: [], elsewhere };
  const existing = current.consumers.get(stream)?.find((c) => c.durable_name === spec.durable);
  if (existing === undefined) return { kind: "create", spec, stream, config, fields: [], elsewhere };
  const fixed = compare(existing as never, config, CONSUMER_FIXED);
  const fields = [...fixed, ...compare(existing as never, config, CONSUMER_EDITABLE)];
  const kind: ChangeKind = fixed.length > 0 ? "forbidden" : fields.length > 0 ? "update" : "none";
  return { kind, spec, stream, config, fields, elsewhere };
}

// A durable cannot be created on a stream that gets its subject only from the migration.
function waitForMigration(
  change: ConsumerChange,
  streams: readonly StreamChange[],
  current: CurrentTopology,
): ConsumerChange {
  if (change.kind !== "create" && change.kind !== "update") return change;
  if (streams.find((s) => s.spec.name === change.stream)?.kind !== "needs_migration") return change;
  const subjects = current.streams.find((s) => s.name === change.stream)?.subjects ?? [];
  if (subjects.some((pattern) => patternCovers(pattern, change.spec.filterSubject))) return change;
  return { ...change, kind: "needs_migration" };
}

/** Pure: what it takes to get from `current` to `desired`. Nothing is sent. */
export function planTopology(current: CurrentTopology, desired: Topology): TopologyPlan {
  const streams = desired.streams.map((spec) => diffStream(spec, current));
  const consumers = desired.consumers.map((spec) =>
    waitForMigration(diffConsumer(spec, owningStream(desired.streams, spec.filterSubject), current), streams, current),
  );
  return { streams, consumers };
}
