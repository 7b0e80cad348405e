import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { ConsumerBindingError } from "../errors.js";
import { coveringPattern } from "../subjects.js";
import { isNotFound } from "../topology/apply.js";

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
}

export interface BindingRequest {
  jsm: JetStreamManager;
  logger: Logger;
  /** Candidate streams in order (multi: core, then legacy). */
  candidates: readonly string[];
  durable: string;
  filterSubject: string;
  /** Human label in log lines: `HRV`, `Sleep`, `Oura`. */
  label: string;
  /** Log prefix, e.g. `normalize` for `[normalize] Found existing HRV consumer ...`. */
  tag: string;
}

async function lookup<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function describeOwner(streamInfo: StreamInfo, subject: string): string {
  return coveringPattern(streamInfo.config.subjects ?? [], subject) ?? "";
}

async function currentOwner(jsm: JetStreamManager, subject: string): Promise<string> {
  try {
    return await jsm.streams.find(subject);
  } catch {
    return "no stream";
  }
}

function pendingOf(info: ConsumerInfo): number {
  return info.num_pending + info.num_ack_pending;
}

/**
 * Finds the durable on the candidate streams, logging each step with the runbook's
 * lines. The first candidate that holds the durable and owns its subject is the
 * primary binding. A durable on a stream that no longer owns the subject is bound
 * drain-only while it still has messages, and says so; it is never mistaken for a
 * working binding. Throws when no candidate holds the durable at all.
 */
export async function resolveBindings(request: BindingRequest): Promise<Binding[]> {
  const { jsm, logger, durable, filterSubject, label, tag } = request;
  const bindings: Binding[] = [];
  for (const stream of request.candidates) {
    const streamInfo = await lookup(() => jsm.streams.info(stream));
    const consumerInfo = streamInfo && (await lookup(() => jsm.consumers.info(stream, durable)));
    if (!streamInfo || !consumerInfo) {
      const what = streamInfo ? `Consumer ${durable}` : `Stream ${stream} (for consumer ${durable})`;
      if (bindings.length === 0) logger.warn(`[${tag}] ${what} not found on ${stream}. Trying next candidate.`);
      continue;
    }
    const owns = describeOwner(streamInfo, filterSubject) !== "";
    const maxDeliver = consumerInfo.config.max_deliver ?? -1;
    if (owns && !bindings.some((b) => b.role === "primary")) {
      logger.info(`[${tag}] Found existing ${label} consumer on ${stream}: ${durable}`);
      bindings.push({ stream, durable, filterSubject, role: "primary", maxDeliver });
    } else if (!owns && pendingOf(consumerInfo) > 0) {
      const owner = await currentOwner(jsm, filterSubject);
      logger.warn(
        `[${tag}] ${label} consumer ${durable} on ${stream} is drain-only: ${stream} no longer owns ${filterSubject} (owned by ${owner}); draining ${pendingOf(consumerInfo)} remaining message(s)`,
      );
      bindings.push({ stream, durable, filterSubject, role: "drain_only", maxDeliver });
    } else if (!owns) {
      logger.warn(`[${tag}] ${label} consumer ${durable} on ${stream} ignored: ${stream} does not own ${filterSubject} and has nothing pending. Trying next candidate.`);
    }
  }
  if (bindings.length === 0) {
    throw new ConsumerBindingError(
      `[${tag}] Failed to find ${label} consumer on any available stream (durable ${durable}, candidates: ${request.candidates.join(", ")}). Create it with: NATS_URL=<url> STREAM_NAME=<stream> node docs/phase-3/ops/create-consumers.js`,
    );
  }
  if (!bindings.some((b) => b.role === "primary")) {
    logger.error(`[${tag}] No stream among ${request.candidates.join(", ")} that holds ${durable} owns ${filterSubject}: new ${label} events will not be consumed`);
  }
  return bindings;
}
