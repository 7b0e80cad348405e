import { ifExists } from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { AuditLog } from "../dlq/audit.js";
import { toDlqMessage, type DlqMessage } from "../dlq/entry.js";
import { purge, type PurgeOutcome } from "../dlq/purge.js";
import { newestFirst } from "../dlq/read.js";
import { payloadBelongsTo, remaining, type ErasedPerson, type Remaining } from "./plan.js";

/** A stream that exists, with its retention in ms (0: no age limit). */
export interface StreamRetention {
  stream: string;
  maxAgeMs: number;
}

/** The named streams that exist on the server, with their max_age. */
export async function retentions(jsm: JetStreamManager, streams: readonly string[]): Promise<StreamRetention[]> {
  const found: StreamRetention[] = [];
  for (const stream of new Set(streams)) {
    const info = await ifExists(jsm.streams.info(stream));
    if (info) found.push({ stream, maxAgeMs: Math.round(info.config.max_age / 1e6) });
  }
  return found;
}

/**
 * The newest message of the person in a stream, read newest first (so a match stops the walk early); undefined when
 * the stream holds none. Messages cannot be erased from a hot stream without racing its consumers: they age out.
 */
export async function remainingIn(
  jsm: JetStreamManager,
  retention: StreamRetention,
  person: ErasedPerson,
): Promise<Remaining | undefined> {
  for await (const msg of newestFirst(jsm, retention.stream)) {
    if (payloadBelongsTo(msg.data, person)) return remaining(retention.stream, msg.time, retention.maxAgeMs);
  }
  return undefined;
}

/** The person's dead letters, oldest first (the order `purge` removes them in). */
export async function personalDeadLetters(
  jsm: JetStreamManager,
  dlqStream: string,
  person: ErasedPerson,
): Promise<DlqMessage[]> {
  const found: DlqMessage[] = [];
  for await (const msg of newestFirst(jsm, dlqStream)) {
    if (payloadBelongsTo(msg.data, person)) found.push(toDlqMessage(msg));
  }
  return found.reverse();
}

/** Deletes the dead letters, each after its audit record; stops at the first failure. */
export function purgeDeadLetters(
  jsm: JetStreamManager,
  dlqStream: string,
  audit: AuditLog,
  letters: readonly DlqMessage[],
): Promise<PurgeOutcome[]> {
  return purge(jsm, dlqStream, audit, letters, () => undefined);
}
