import type { JetStreamClient, JetStreamManager, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/nats-core";
import { ifExists } from "@aa/event-bus";
import type { Writer } from "../output.js";
import { legacyMsgId, toLegacyEnvelope } from "./legacy-envelope.js";
import type { DrainWatch } from "./plan.js";

/** Where a copy came from, on the copy: `<stream>#<seq>`, so a forwarded event can be traced back. */
export const FORWARDED_FROM_HEADER = "Aa-Forwarded-From";

/** What happened to one hot-stream durable's unprocessed messages: the proof that nothing was lost. */
export interface ForwardLedger {
  stream: string;
  durable: string;
  /** Distinct unprocessed messages seen (held by a crashed worker, or never delivered). */
  found: number;
  /** Copies the legacy stream confirmed: `pubAckNew + pubAckDuplicate`. */
  forwarded: number;
  pubAckNew: number;
  /** Already stored by an earlier (interrupted) run inside the duplicate window: a success. */
  pubAckDuplicate: number;
  /** Of those, readings that lost `source` on the way (1.0 stores them as "unscoped"). */
  downConverted: number;
  /** Hot-stream deliveries acked after their copy was confirmed. */
  acked: number;
  /** Still pending or unacked on the hot-stream durable when the run ended: re-run. */
  left: number;
}

export interface ForwardOptions {
  /** The stream that must store every copy (it owns the subjects again after the rollback handoff). */
  legacyStream: string;
  /** Give up when a durable still has messages after this long, in ms (its ack wait must pass first). */
  timeoutMs: number;
  /** Pause between passes while held messages wait out their ack wait, in ms. */
  pollMs: number;
  dryRun: boolean;
  write: Writer;
  /** Test hook: stop right after this many copies got their PubAck, before acking the last one. */
  interruptAfterCopies?: number;
}

const PUBLISH_TIMEOUT_MS = 10_000;
const FETCH_BATCH = 200;
const FETCH_EXPIRES_MS = 1_000;

interface Source {
  subject: string;
  seq: number;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
}

/** The copy's headers: the original's (trace context, ...) minus the JetStream ones, plus where it came from. */
function copyHeaders(original: MsgHdrs | undefined, from: string): MsgHdrs {
  const h = natsHeaders();
  for (const key of original?.keys() ?? []) {
    if (key.toLowerCase().startsWith("nats-")) continue;
    for (const value of original?.values(key) ?? []) h.append(key, value);
  }
  h.set(FORWARDED_FROM_HEADER, from);
  return h;
}

class Forwarder {
  readonly ledger: ForwardLedger;
  /** Stream sequences whose copy this run already got a PubAck for. */
  private readonly copied = new Set<number>();

  constructor(
    private readonly js: JetStreamClient,
    readonly watch: DrainWatch,
    private readonly o: ForwardOptions,
  ) {
    this.ledger = {
      stream: watch.stream,
      durable: watch.durable,
      found: 0,
      forwarded: 0,
      pubAckNew: 0,
      pubAckDuplicate: 0,
      downConverted: 0,
      acked: 0,
      left: 0,
    };
  }

  /** Publishes the 1.0 copy with the original msg id and returns once the legacy stream stored it. */
  async copy(message: Source): Promise<void> {
    if (this.copied.has(message.seq)) return;
    this.ledger.found += 1;
    const { data, downConverted } = toLegacyEnvelope(message.subject, message.data);
    const msgID = legacyMsgId(message.headers?.get("Nats-Msg-Id"), this.watch.stream, message.seq);
    const ack: PubAck = await this.js.publish(message.subject, data, {
      msgID,
      headers: copyHeaders(message.headers, `${this.watch.stream}#${message.seq}`),
      timeout: PUBLISH_TIMEOUT_MS,
    });
    // A copy stored anywhere else (a stream that still or again owns the subject) is not for 1.0.
    if (ack.stream !== this.o.legacyStream)
      throw new Error(
        `the copy of ${this.watch.stream}#${message.seq} (${message.subject}) landed in ${ack.stream}, ` +
          `expected ${this.o.legacyStream}: the hot stream is left as it was`,
      );
    this.copied.add(message.seq);
    this.ledger.forwarded += 1;
    if (ack.duplicate) this.ledger.pubAckDuplicate += 1;
    else this.ledger.pubAckNew += 1;
    if (downConverted) this.ledger.downConverted += 1;
    if (this.ledger.forwarded === this.o.interruptAfterCopies)
      throw new Error(`interrupted after ${this.ledger.forwarded} copies, before acking the last (test hook)`);
  }
}

async function leftOn(jsm: JetStreamManager, watch: DrainWatch): Promise<number> {
  const info = await jsm.consumers.info(watch.stream, watch.durable);
  return info.num_pending + info.num_ack_pending;
}

/**
 * Reads what the durable delivers now and acks each message only after its copy's PubAck: an
 * interruption at any point loses nothing (unacked messages come back) and doubles nothing (same
 * msg id). Returns when a fetch comes back empty. Messages a crashed worker held unacked come back only
 * after the ack wait: reading them through the durable (not by sequence from the ack floor, where acked
 * and unacked messages interleave) keeps the ledger exact at the price of that wait.
 */
async function copyDeliverable(jsm: JetStreamManager, f: Forwarder): Promise<void> {
  const consumer = await jsm.jetstream().consumers.get(f.watch.stream, f.watch.durable);
  for (;;) {
    let got = 0;
    const batch = await consumer.fetch({ max_messages: FETCH_BATCH, expires: FETCH_EXPIRES_MS });
    for await (const m of batch) {
      got += 1;
      // A failed copy throws before the ack: the message stays on the durable for the re-run.
      await f.copy({ subject: m.subject, seq: m.info.streamSequence, data: m.data, headers: m.headers });
      if (await m.ackAck()) f.ledger.acked += 1;
    }
    if (got === 0) return;
  }
}

/** One pass over a durable; returns how many messages it found that earlier passes had not. */
async function pass(jsm: JetStreamManager, f: Forwarder, o: ForwardOptions): Promise<number> {
  const before = f.ledger.found;
  if (!(await ifExists(jsm.consumers.info(f.watch.stream, f.watch.durable)))) return 0;
  if (!o.dryRun) await copyDeliverable(jsm, f);
  f.ledger.left = await leftOn(jsm, f.watch);
  return f.ledger.found - before;
}

/** One ledger line per durable, the numbers an operator compares. */
export function ledgerLine(l: ForwardLedger): string {
  return (
    `${l.stream}/${l.durable}: found ${l.found}, forwarded ${l.forwarded} ` +
    `(PubAck new ${l.pubAckNew}, duplicate ${l.pubAckDuplicate}; without source ${l.downConverted}), ` +
    `acked ${l.acked}, left ${l.left}`
  );
}

/**
 * The rollback that does not need the new normalize: each hot-stream durable's unprocessed
 * messages are copied to their own subjects (owned by the legacy stream again) in the 1.0
 * envelope with the same msg id, then acked on the hot stream. Passes repeat until every durable
 * is empty and a last pass found nothing new: messages a crashed worker held come back only after
 * the ack wait. Run after the handoff, when nothing can publish to the hot streams any more.
 */
export async function forwardUnprocessed(
  jsm: JetStreamManager,
  watches: readonly DrainWatch[],
  o: ForwardOptions,
): Promise<ForwardLedger[]> {
  const forwarders = watches.map((w) => new Forwarder(jsm.jetstream(), w, o));
  const ledgers = forwarders.map((f) => f.ledger);
  const deadline = performance.now() + o.timeoutMs;
  let lastReport = performance.now();
  for (;;) {
    let found = 0;
    for (const f of forwarders) found += await pass(jsm, f, o);
    const left = ledgers.filter((l) => l.left > 0);
    if (o.dryRun) {
      for (const l of ledgers) o.write(`🔎 Would forward ${l.left} message(s) of ${l.stream}/${l.durable}`);
      return ledgers;
    }
    // Done when nothing is left and a last pass found nothing new (a producer retrying into the handoff).
    if ((left.length === 0 && found === 0) || performance.now() > deadline) break;
    if (found > 0) continue;
    if (performance.now() - lastReport > 10_000) {
      o.write(`⏳ Waiting for unacked messages to come back (ack wait): ${left.map(leftText).join(", ")}`);
      lastReport = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, o.pollMs));
  }
  for (const l of ledgers) o.write(`${l.left === 0 ? "✅" : "❌"} ${ledgerLine(l)}`);
  return ledgers;
}

const leftText = (l: ForwardLedger): string => `${l.stream}/${l.durable} ${l.left} left`;
