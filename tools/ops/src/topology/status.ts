import { SubjectPatterns } from "@aa/contracts";
import { coveringPattern, patternsOverlap, type TopologyNames } from "@aa/event-bus";
import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { collect } from "../jetstream.js";
import { list } from "../output.js";
import { parkedSubject } from "../migration/plan.js";

/** Who holds one of the subject patterns that decide the mode. */
export interface SubjectOwnership {
  pattern: string;
  /** Streams with a subject overlapping the pattern (more than one, or a narrower one, means split). */
  owners: { stream: string; as: string[] }[];
}

/**
 * The mode the server is in, derived from subject ownership (publishing follows subjects):
 * multi, single, split (mid-migration), unowned (a subject no stream owns) or unknown
 * (owned by streams of neither mode).
 */
export interface DerivedMode {
  kind: "multi" | "single" | "split" | "unowned" | "unknown";
  label: string;
}

export interface DurableStatus {
  stream: string;
  durable: string;
  filterSubject: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  /** Pull requests waiting on the server: 0 means no consumer process is pulling now. */
  waiting: number;
  /** False when the stream no longer owns the filter subject (only old messages remain). */
  streamOwnsSubject: boolean;
}

export interface ServerStatus {
  mode: DerivedMode;
  subjects: SubjectOwnership[];
  streams: { name: string; subjects: string[]; parked: boolean; messages: number; consumers: number }[];
  durables: DurableStatus[];
  dlq: { stream: string; messages: number | null };
}

/** The patterns whose owners decide the mode, in the order the runbook names them. */
export const MODE_PATTERNS: readonly string[] = SubjectPatterns.legacy;

/** A stream `aa-ops migrate` created before its subjects could move: its only subject is the placeholder. */
export const isParked = (info: StreamInfo): boolean => {
  const subjects = info.config.subjects ?? [];
  return subjects.length > 0 && subjects.every((s) => s === parkedSubject(info.config.name));
};

export function subjectOwnership(streams: readonly StreamInfo[], pattern: string): SubjectOwnership {
  const owners = streams.flatMap((info) => {
    const as = (info.config.subjects ?? []).filter((s) => patternsOverlap(s, pattern));
    return as.length > 0 ? [{ stream: info.config.name, as }] : [];
  });
  return { pattern, owners };
}

const soleOwner = (o: SubjectOwnership): string | undefined => {
  const [only] = o.owners;
  return o.owners.length === 1 && only?.as.length === 1 && only.as[0] === o.pattern ? only.stream : undefined;
};

export function ownerText(o: SubjectOwnership): string {
  if (o.owners.length === 0) return "no stream";
  return o.owners
    .map((w) => (w.as.length === 1 && w.as[0] === o.pattern ? w.stream : `${w.stream} (as ${w.as.join(", ")})`))
    .join(" + ");
}

function expectedOwners(names: TopologyNames): { multi: Record<string, string>; single: Record<string, string> } {
  const single = Object.fromEntries(MODE_PATTERNS.map((p) => [p, names.legacy]));
  const multi = Object.fromEntries(
    MODE_PATTERNS.map((p) => [p, SubjectPatterns.vendor.some((v) => v === p) ? names.vendor : names.core]),
  );
  return { multi, single };
}

/** Pure: the mode from who owns `athlete-ally.>`, `sleep.*` and `vendor.>`. */
export function deriveMode(ownership: readonly SubjectOwnership[], names: TopologyNames): DerivedMode {
  const unowned = ownership.filter((o) => o.owners.length === 0).map((o) => o.pattern);
  if (unowned.length > 0) return { kind: "unowned", label: `no stream owns ${unowned.join(", ")}` };
  const owners = ownership.map(soleOwner);
  const expected = expectedOwners(names);
  const matches = (want: Record<string, string>) => ownership.every((o, i) => owners[i] === want[o.pattern]);
  if (matches(expected.multi)) return { kind: "multi", label: "multi" };
  if (matches(expected.single)) return { kind: "single", label: "single" };
  const ours = new Set([names.core, names.vendor, names.legacy]);
  const where = ownership.map((o) => `${o.pattern} on ${ownerText(o)}`).join("; ");
  if (ownership.every((o) => o.owners.every((w) => !ours.has(w.stream))))
    return { kind: "unknown", label: `unrecognised: ${where}` };
  return { kind: "split", label: `mid-migration (subjects split): ${where}` };
}

function durableStatus(stream: StreamInfo, info: ConsumerInfo): DurableStatus {
  const filterSubject = info.config.filter_subject ?? list(info.config.filter_subjects, ">");
  return {
    stream: stream.config.name,
    durable: info.name,
    filterSubject,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    waiting: info.num_waiting,
    streamOwnsSubject: coveringPattern(stream.config.subjects ?? [], filterSubject) !== undefined,
  };
}

/** Reads every stream and durable and derives the mode; changes nothing. */
export async function readStatus(jsm: JetStreamManager, names: TopologyNames): Promise<ServerStatus> {
  const streams = (await collect(jsm.streams.list())).sort((a, b) => a.config.name.localeCompare(b.config.name));
  const durables: DurableStatus[] = [];
  for (const stream of streams) {
    const consumers = (await collect(jsm.consumers.list(stream.config.name))).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    durables.push(...consumers.map((c) => durableStatus(stream, c)));
  }
  const subjects = MODE_PATTERNS.map((p) => subjectOwnership(streams, p));
  const dlq = streams.find((s) => s.config.name === names.dlq);
  return {
    mode: deriveMode(subjects, names),
    subjects,
    streams: streams.map((s) => ({
      name: s.config.name,
      subjects: s.config.subjects ?? [],
      parked: isParked(s),
      messages: s.state.messages,
      consumers: s.state.consumer_count,
    })),
    durables,
    dlq: { stream: names.dlq, messages: dlq?.state.messages ?? null },
  };
}
