import type { StreamConfig } from "@nats-io/jetstream";
import {
  consumerSpecs,
  diffStream,
  patternCovers,
  subjectsChange,
  topologyFor,
  type ConsumerSpec,
  type CurrentTopology,
  type StreamChange,
  type StreamMode,
  type StreamSpec,
  type TopologyNames,
} from "@aa/event-bus";

/**
 * Where one subject pattern is in its handoff:
 * - `at_source`: the old stream still owns it;
 * - `in_gap`: nobody owns it (a run stopped between the two updates): publishes get no responders;
 * - `at_target`: moved.
 */
export type MoveState = "at_source" | "in_gap" | "at_target";

export interface SubjectMove {
  pattern: string;
  from: string;
  to: string;
  state: MoveState;
}

/** A durable whose messages are left on a source stream and must drain there. */
export interface DrainWatch {
  stream: string;
  durable: string;
  filterSubject: string;
}

/** One source → target pair still to move, with its two stream updates for the shared applier. */
export interface Handoff {
  from: string;
  to: string;
  moves: SubjectMove[];
  /** The source's subjects without the moved patterns (`none` once it gave them up); absent without a source. */
  release: StreamChange | undefined;
  /** The target's subjects with the moved patterns, its placeholder dropped. */
  take: StreamChange;
}

export interface MigrationPlan {
  to: StreamMode;
  /** Target streams (and the DLQ) that do not exist yet: created parked, without their subjects. */
  missingStreams: StreamSpec[];
  /** Their creation for the shared applier: parked where subjects must first move to the stream. */
  creates: StreamChange[];
  moves: SubjectMove[];
  /** The moves still to make, per stream pair, each pair planned on the state the ones before it leave. */
  handoffs: Handoff[];
  /** Durables to create on each target stream once it owns their subject. */
  targetDurables: { stream: string; spec: ConsumerSpec }[];
  drains: DrainWatch[];
  /**
   * Consumers on a stream that gives up subjects and that the pipeline does not define
   * (another team's reader, a forgotten test durable): after the handoff they receive nothing
   * new, silently. The migration refuses unless told to move anyway.
   */
  unknownConsumers: UnknownConsumer[];
}

/** A consumer that is not one of the pipeline's durables, on a stream that loses its subjects. */
export interface UnknownConsumer {
  stream: string;
  name: string;
  filterSubject: string | undefined;
}

/** The placeholder subject of a stream waiting for its real subjects (a stream needs at least one). */
export const parkedSubject = (stream: string): string => `aa-ops.parked.${stream}`;

const otherMode = (mode: StreamMode): StreamMode => (mode === "multi" ? "single" : "multi");

function ownerOf(streams: readonly StreamConfig[], pattern: string): string | undefined {
  return streams.find((s) => (s.subjects ?? []).includes(pattern))?.name;
}

/**
 * Pure: the steps from the current server state to `to`. Each subject pattern of the
 * target topology moves from the source-topology stream that holds it; a pattern
 * already on its target needs nothing, so a re-run resumes where the last one stopped.
 */
export function planMigration(
  current: CurrentTopology,
  to: StreamMode,
  names: TopologyNames,
  replicas: number,
): MigrationPlan {
  const target = topologyFor(to, names, replicas);
  const source = topologyFor(otherMode(to), names, replicas);
  const existing = new Set(current.streams.map((s) => s.name));
  const moves: SubjectMove[] = [];
  for (const stream of target.streams) {
    for (const pattern of stream.subjects) {
      const from = source.streams.find((s) => s.subjects.includes(pattern))?.name;
      if (from === undefined || from === stream.name) continue;
      const owner = ownerOf(current.streams, pattern);
      const state: MoveState = owner === stream.name ? "at_target" : owner === undefined ? "in_gap" : "at_source";
      moves.push({
        pattern,
        from: owner !== undefined && owner !== stream.name ? owner : from,
        to: stream.name,
        state,
      });
    }
  }
  const targetDurables = consumerSpecs(names).flatMap((spec) => {
    const stream = target.streams.find((s) => s.subjects.some((p) => patternCovers(p, spec.filterSubject)));
    return stream ? [{ stream: stream.name, spec }] : [];
  });
  const drains = consumerSpecs(names).flatMap((spec) => {
    const stream = source.streams.find((s) => s.subjects.some((p) => patternCovers(p, spec.filterSubject)));
    const present = stream && current.consumers.get(stream.name)?.some((c) => c.durable_name === spec.durable);
    return stream && present ? [{ stream: stream.name, durable: spec.durable, filterSubject: spec.filterSubject }] : [];
  });
  const unknownConsumers = unknownConsumersOf(current, moves, names);
  const missingStreams = target.streams.filter((s) => !existing.has(s.name));
  const creates = missingStreams.map((spec) => {
    const parked = moves.some((m) => m.to === spec.name);
    return diffStream(parked ? { ...spec, subjects: [parkedSubject(spec.name)] } : spec, current);
  });
  const handoffs = planHandoffs(groupMoves(moves), [...current.streams, ...creates.map((c) => c.config)]);
  return {
    to,
    missingStreams,
    creates,
    moves,
    handoffs,
    targetDurables,
    drains,
    unknownConsumers,
  };
}

/** Consumers (durable or ephemeral) of the streams that still hold a subject to move, other than the pipeline's. */
function unknownConsumersOf(
  current: CurrentTopology,
  moves: readonly SubjectMove[],
  names: TopologyNames,
): UnknownConsumer[] {
  const known = new Set(consumerSpecs(names).map((spec) => spec.durable));
  const sources = new Set(moves.filter((m) => m.state === "at_source").map((m) => m.from));
  return [...sources].flatMap((stream) =>
    (current.consumers.get(stream) ?? [])
      .map((c) => ({
        stream,
        name: c.durable_name ?? c.name ?? "(unnamed)",
        filterSubject: c.filter_subject ?? c.filter_subjects?.join(","),
      }))
      .filter((c) => !known.has(c.name)),
  );
}

type MoveGroup = Pick<Handoff, "from" | "to" | "moves">;

/** Moves that still need work, grouped by source → target pair so each pair is one pair of updates. */
export function pendingHandoffs(plan: Pick<MigrationPlan, "moves">): MoveGroup[] {
  return groupMoves(plan.moves);
}

function groupMoves(moves: readonly SubjectMove[]): MoveGroup[] {
  const groups = new Map<string, MoveGroup>();
  for (const move of moves.filter((m) => m.state !== "at_target")) {
    const key = `${move.from}→${move.to}`;
    const group = groups.get(key) ?? { from: move.from, to: move.to, moves: [] };
    group.moves.push(move);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** A concrete subject inside a pattern, used for the probe publish (no durable filters on it). */
export function probeSubject(pattern: string): string {
  return pattern.replace(/\.>$/, ".aa-ops.migration-probe").replace(/\*/g, "aa-ops-migration-probe");
}

type StreamState = Partial<StreamConfig> & { name: string };

function withoutPatterns(config: StreamState, patterns: readonly string[]): string[] {
  const left = (config.subjects ?? []).filter((s) => !patterns.includes(s));
  return left.length > 0 ? left : [parkedSubject(config.name)];
}

function withPatterns(config: StreamState, patterns: readonly string[]): string[] {
  const kept = (config.subjects ?? []).filter((s) => s !== parkedSubject(config.name) && !patterns.includes(s));
  return [...kept, ...patterns];
}

/**
 * The two subject updates of each pair, in order. Each pair is planned on the subjects the pairs before
 * it leave (the legacy stream gives up `athlete-ally.>` first, then `vendor.>`), so a dry run prints what
 * a real run sends.
 */
function planHandoffs(groups: readonly MoveGroup[], streams: readonly StreamState[]): Handoff[] {
  const state = new Map(streams.map((s) => [s.name, s]));
  const after = (change: StreamChange): void => {
    const before = state.get(change.spec.name) ?? { name: change.spec.name };
    state.set(change.spec.name, { ...before, subjects: change.spec.subjects });
  };
  return groups.map((group) => {
    const patterns = group.moves.map((m) => m.pattern);
    const source = state.get(group.from);
    const release = source && subjectsChange(source, withoutPatterns(source, patterns));
    if (release) after(release);
    // Missing only when its creation is not planned either; the update then fails and says so.
    const target = state.get(group.to) ?? { name: group.to, subjects: [parkedSubject(group.to)] };
    const take = subjectsChange(target, withPatterns(target, patterns));
    after(take);
    return { ...group, release, take };
  });
}
