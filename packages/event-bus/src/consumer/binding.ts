import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { ConsumerBindingError } from "../errors.js";
import { coveringPattern } from "../subjects.js";
import { ifExists } from "../topology/apply.js";

/**
 * `primary`: the stream owns the consumer's subject, so new events arrive there.
 * `drain_only`: the stream lost the subject (after a cutover); only old messages remain.
 */
export type BindingRole = "primary" | "drain_only";

export interface Binding {
  stream: string;
  durable: string;
  filterSubject: string;
  role: BindingRole;
  /** `max_deliver` as configured on the server (ops may have changed it). */
  maxDeliver: number;
  /** Messages not yet delivered plus delivered and unacknowledged, when resolved. */
  pending: number;
}

/** What the server shows for one stream the durable may be on. */
export interface StreamObservation {
  stream: string;
  /** The stream's subjects; undefined when the stream does not exist. */
  subjects: readonly string[] | undefined;
  /** The durable on it; undefined when the stream or the durable does not exist. */
  durable: { maxDeliver: number; pending: number } | undefined;
}

/** Why a stream was or was not bound, in search order: each becomes one of the runbook's log lines. */
export type BindingNote =
  | { kind: "stream_missing" | "durable_missing" | "ignored" | "found" | "outside_candidates"; stream: string }
  | { kind: "drain_only"; stream: string; pending: number }
  | { kind: "no_primary" };

export interface BindingScope {
  /** Candidate streams in order (multi: core, then legacy), as the runbook logs them. */
  candidates: readonly string[];
  /**
   * Other streams that may hold the durable (the other mode's streams). A durable there
   * is bound when that stream owns the subject (so nothing strands after a migration)
   * or while it still has messages to drain.
   */
  otherStreams?: readonly string[];
  durable: string;
  filterSubject: string;
}

/** The streams to look at, in order: the candidates, then the other mode's streams not among them. */
export const searchOrder = (scope: BindingScope): string[] => [
  ...scope.candidates,
  ...(scope.otherStreams ?? []).filter((s) => !scope.candidates.includes(s)),
];

/**
 * Pure: where the durable must be consumed. The stream that owns the subject and holds the
 * durable is the primary binding (any candidate, or another mode's stream so nothing strands);
 * a durable on a stream that lost the subject is bound drain-only while it has messages left.
 * "Not found" is noted for candidates only until a binding exists; no binding at all is the
 * caller's error to raise.
 */
export function classifyBindings(
  scope: BindingScope,
  observed: readonly StreamObservation[],
): { bindings: Binding[]; notes: BindingNote[] } {
  const { candidates, durable, filterSubject } = scope;
  const bindings: Binding[] = [];
  const notes: BindingNote[] = [];
  for (const { stream, subjects, durable: found } of observed) {
    const isCandidate = candidates.includes(stream);
    if (subjects === undefined || found === undefined) {
      const kind = subjects === undefined ? "stream_missing" : "durable_missing";
      if (isCandidate && bindings.length === 0) notes.push({ kind, stream });
      continue;
    }
    const binding = { stream, durable, filterSubject, ...found };
    if (coveringPattern(subjects, filterSubject) !== undefined) {
      notes.push({ kind: isCandidate ? "found" : "outside_candidates", stream });
      bindings.push({ ...binding, role: "primary" });
    } else if (found.pending > 0) {
      notes.push({ kind: "drain_only", stream, pending: found.pending });
      bindings.push({ ...binding, role: "drain_only" });
    } else if (isCandidate) {
      notes.push({ kind: "ignored", stream });
    }
  }
  if (bindings.length > 0 && !bindings.some((b) => b.role === "primary")) notes.push({ kind: "no_primary" });
  return { bindings, notes };
}

export interface BindingRequest extends BindingScope {
  jsm: JetStreamManager;
  /** Receives the runbook's lines; pass a silent logger for periodic re-checks. */
  logger: Logger;
  /** Human label in log lines: `HRV`, `Sleep`, `Oura`. */
  label: string;
  /** Log prefix, e.g. `normalize` for `[normalize] Found existing HRV consumer ...`. */
  tag: string;
}

async function observe(jsm: JetStreamManager, stream: string, durable: string): Promise<StreamObservation> {
  const streamInfo = await ifExists(jsm.streams.info(stream));
  const consumerInfo = streamInfo && (await ifExists(jsm.consumers.info(stream, durable)));
  return {
    stream,
    subjects: streamInfo ? (streamInfo.config.subjects ?? []) : undefined,
    durable: consumerInfo && {
      maxDeliver: consumerInfo.config.max_deliver ?? -1,
      pending: consumerInfo.num_pending + consumerInfo.num_ack_pending,
    },
  };
}

async function currentOwner(jsm: JetStreamManager, subject: string): Promise<string> {
  try {
    return await jsm.streams.find(subject);
  } catch {
    return "no stream";
  }
}

/** The runbook's line for one note (the drain-only one names the subject's owner now). */
async function logNote(request: BindingRequest, note: BindingNote): Promise<void> {
  const { jsm, logger, durable, filterSubject, label, tag } = request;
  const on = "stream" in note ? `${durable} on ${note.stream}` : "";
  switch (note.kind) {
    case "stream_missing":
      return logger.warn(
        `[${tag}] Stream ${note.stream} (for consumer ${durable}) not found on ${note.stream}. Trying next candidate.`,
      );
    case "durable_missing":
      return logger.warn(`[${tag}] Consumer ${durable} not found on ${note.stream}. Trying next candidate.`);
    case "found":
      return logger.info(`[${tag}] Found existing ${label} consumer on ${note.stream}: ${durable}`);
    case "outside_candidates":
      return logger.warn(
        `[${tag}] ${label} subject ${filterSubject} is owned by ${note.stream}, ` +
          `which is not a candidate of this stream mode; consuming ${durable} there so nothing strands`,
      );
    case "drain_only":
      return logger.warn(
        `[${tag}] ${label} consumer ${on} is drain-only: ${note.stream} no longer owns ${filterSubject} ` +
          `(owned by ${await currentOwner(jsm, filterSubject)}); draining ${note.pending} remaining message(s)`,
      );
    case "ignored":
      return logger.warn(
        `[${tag}] ${label} consumer ${on} ignored: ${note.stream} does not own ${filterSubject} ` +
          `and has nothing pending. Trying next candidate.`,
      );
    case "no_primary":
      return logger.error(
        `[${tag}] No stream that holds ${durable} owns ${filterSubject}: new ${label} events will not be consumed`,
      );
  }
}

/**
 * Finds where the durable must be consumed (`classifyBindings` on what the server shows now),
 * logging each step with the runbook's lines. Throws when no stream holds the durable at all.
 */
export async function resolveBindings(request: BindingRequest): Promise<Binding[]> {
  const { jsm, durable, label, tag, candidates } = request;
  const observed = await Promise.all(searchOrder(request).map((stream) => observe(jsm, stream, durable)));
  const { bindings, notes } = classifyBindings(request, observed);
  for (const note of notes) await logNote(request, note);
  if (bindings.length === 0) {
    // Name what Kubernetes runs (the topology Job) and the runbook's script doing the same.
    const create = "npx aa-ops topology apply --mode <single|multi>";
    const runbook = "NATS_URL=<url> STREAM_NAME=<stream> node docs/phase-3/ops/create-consumers.js";
    throw new ConsumerBindingError(
      `[${tag}] Failed to find ${label} consumer on any available stream ` +
        `(durable ${durable}, candidates: ${candidates.join(", ")}). ` +
        `Create it with: ${create} (runbook equivalent: ${runbook})`,
    );
  }
  return bindings;
}
