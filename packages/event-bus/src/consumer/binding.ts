import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream";
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

export interface BindingRequest {
  jsm: JetStreamManager;
  /** Receives the runbook's lines; pass a silent logger for periodic re-checks. */
  logger: Logger;
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
  /** Human label in log lines: `HRV`, `Sleep`, `Oura`. */
  label: string;
  /** Log prefix, e.g. `normalize` for `[normalize] Found existing HRV consumer ...`. */
  tag: string;
}

const ownsSubject = (info: StreamInfo, subject: string): boolean =>
  coveringPattern(info.config.subjects ?? [], subject) !== undefined;
const pendingOf = (info: ConsumerInfo): number => info.num_pending + info.num_ack_pending;

async function currentOwner(jsm: JetStreamManager, subject: string): Promise<string> {
  try {
    return await jsm.streams.find(subject);
  } catch {
    return "no stream";
  }
}

/**
 * Finds where the durable must be consumed, logging each step with the runbook's lines.
 * The stream that owns the subject and holds the durable is the primary binding
 * (searched in candidate order); a durable on a stream that lost the subject is bound
 * drain-only while it has messages left, and says so. Throws when no stream holds the
 * durable at all.
 */
export async function resolveBindings(request: BindingRequest): Promise<Binding[]> {
  const { jsm, logger, durable, filterSubject, label, tag, candidates } = request;
  const bindings: Binding[] = [];
  const others = (request.otherStreams ?? []).filter((s) => !candidates.includes(s));
  for (const stream of [...candidates, ...others]) {
    const isCandidate = candidates.includes(stream);
    const streamInfo = await ifExists(jsm.streams.info(stream));
    const consumerInfo = streamInfo && (await ifExists(jsm.consumers.info(stream, durable)));
    if (!streamInfo || !consumerInfo) {
      const what = streamInfo ? `Consumer ${durable}` : `Stream ${stream} (for consumer ${durable})`;
      if (isCandidate && bindings.length === 0)
        logger.warn(`[${tag}] ${what} not found on ${stream}. Trying next candidate.`);
      continue;
    }
    const binding = {
      stream,
      durable,
      filterSubject,
      maxDeliver: consumerInfo.config.max_deliver ?? -1,
      pending: pendingOf(consumerInfo),
    };
    if (ownsSubject(streamInfo, filterSubject)) {
      if (isCandidate) logger.info(`[${tag}] Found existing ${label} consumer on ${stream}: ${durable}`);
      else
        logger.warn(
          `[${tag}] ${label} subject ${filterSubject} is owned by ${stream}, ` +
            `which is not a candidate of this stream mode; ` +
            `consuming ${durable} there so nothing strands`,
        );
      bindings.push({ ...binding, role: "primary" });
    } else if (binding.pending > 0) {
      const owner = await currentOwner(jsm, filterSubject);
      logger.warn(
        `[${tag}] ${label} consumer ${durable} on ${stream} is drain-only: ${stream} no longer owns ${filterSubject} ` +
          `(owned by ${owner}); draining ${binding.pending} remaining message(s)`,
      );
      bindings.push({ ...binding, role: "drain_only" });
    } else if (isCandidate) {
      logger.warn(
        `[${tag}] ${label} consumer ${durable} on ${stream} ignored: ${stream} does not own ${filterSubject} ` +
          `and has nothing pending. Trying next candidate.`,
      );
    }
  }
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
  if (!bindings.some((b) => b.role === "primary")) {
    logger.error(
      `[${tag}] No stream that holds ${durable} owns ${filterSubject}: new ${label} events will not be consumed`,
    );
  }
  return bindings;
}
