import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { OpsError } from "../errors.js";
import { request } from "../jetstream.js";
import { matches, toDlqMessage, type DlqFilter, type DlqMessage } from "./entry.js";

// Messages fetched at once while walking backwards: few round trips, bounded load on the server.
const BATCH = 64;

export interface WalkBounds {
  /** Start here instead of the stream's last sequence (when lower). */
  fromSeq?: number;
  /** Stop at the first message stored before this time (stream timestamps only grow). */
  notBeforeMs?: number;
}

/**
 * Every message of a stream, newest first, by sequence (`$JS.API.STREAM.MSG.GET`): works on
 * any stream, needs no consumer, and skips sequences already deleted. Stop iterating to stop reading.
 */
export async function* newestFirst(
  jsm: JetStreamManager,
  stream: string,
  bounds: WalkBounds = {},
): AsyncGenerator<StoredMsg> {
  const { state } = await request(jsm.streams.info(stream), { stream });
  if (state.messages === 0) return;
  let seq = Math.min(state.last_seq, bounds.fromSeq ?? Number.MAX_SAFE_INTEGER);
  while (seq >= state.first_seq) {
    const low = Math.max(state.first_seq, seq - BATCH + 1);
    const batch = await Promise.all(range(seq, low).map((s) => jsm.streams.getMessage(stream, { seq: s })));
    for (const msg of batch) {
      if (msg === null) continue;
      if (bounds.notBeforeMs !== undefined && msg.time.getTime() < bounds.notBeforeMs) return;
      yield msg;
    }
    seq = low - 1;
  }
}

/** high, high-1, ..., low. */
function range(high: number, low: number): number[] {
  return Array.from({ length: high - low + 1 }, (_, i) => high - i);
}

export interface Selection {
  /** Newest first. */
  messages: DlqMessage[];
  /** True when more messages matched than `limit` let through. */
  more: boolean;
}

/** The DLQ messages a filter selects, newest first, reading only as far back as needed. */
export async function selectDlq(jsm: JetStreamManager, stream: string, filter: DlqFilter): Promise<Selection> {
  const messages: DlqMessage[] = [];
  const walk = newestFirst(jsm, stream, { fromSeq: filter.upTo, notBeforeMs: filter.sinceMs });
  for await (const msg of walk) {
    const message = toDlqMessage(msg);
    if (!matches(message.entry, filter)) continue;
    if (filter.limit !== undefined && messages.length >= filter.limit) return { messages, more: true };
    messages.push(message);
  }
  return { messages, more: false };
}

/** One DLQ message by sequence; a one-line error when there is none. */
export async function getDlqMessage(jsm: JetStreamManager, stream: string, seq: number): Promise<DlqMessage> {
  const msg = await request(jsm.streams.getMessage(stream, { seq }), { stream });
  if (msg === null) throw new OpsError(`stream ${stream} has no message with sequence ${seq}`);
  return toDlqMessage(msg);
}
