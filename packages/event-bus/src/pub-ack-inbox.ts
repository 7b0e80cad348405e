import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";

/** What JetStream said about a stored event. */
export interface PublishReceipt {
  stream: string;
  seq: number;
  /** True when the stream already held this `Nats-Msg-Id`: the original was stored. */
  duplicate: boolean;
}

const decoder = new TextDecoder();

/**
 * A PubAck, or the Error JetStream (or the server) answered instead. The server answers a publish no stream listens
 * to with status 503 and no data; that Error says "no responders", which publishers treat as transient.
 */
export function receiptOf(reply: Msg): PublishReceipt | Error {
  if (reply.data.length === 0) {
    const code = reply.headers?.code;
    return new Error(code === 503 ? "no responders: no stream took the subject" : `no PubAck (status ${code})`);
  }
  const ack = JSON.parse(decoder.decode(reply.data)) as {
    stream?: string;
    seq?: number;
    duplicate?: boolean;
    error?: { description?: string };
  };
  if (ack.error || !ack.stream || ack.seq === undefined)
    return new Error(`JetStream refused the publish: ${ack.error?.description ?? "invalid PubAck"}`);
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
}

interface Waiter {
  onReply: (reply: PublishReceipt | Error) => void;
  sentAt: number;
}

/**
 * Publishes whose PubAcks come back on one inbox subscription: each message goes out with a reply subject
 * `<inbox>.<token>`, and one timer sweeps the ones past their wait. nats.js's `js.publish` is a request each (a
 * subscription entry, its own timer, a promise race and error objects), which profiled at about a tenth of ingest's CPU
 * per single POST and a quarter per batched reading. The guarantees stay the publisher's: every message carries its
 * `Nats-Msg-Id`, and a publish without a PubAck here (timeout, no responders, a lost reply across a reconnect) is
 * retried by the caller with the same id, so JetStream stores it once.
 */
export class PubAckInbox {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #ackTimeoutMs: number;
  // A Map iterates in insertion order and every publish waits the same time, so the oldest waiters are first: a
  // sweep stops at the first one still within its wait.
  readonly #waiting = new Map<string, Waiter>();
  #next = 0;
  #subscribed = false;
  #sweep: ReturnType<typeof setTimeout> | undefined;

  /** `inboxPrefix`: the connection's NATS_INBOX_PREFIX, where its permissions let replies in; default `_INBOX`. */
  constructor(nc: NatsConnection, ackTimeoutMs: number, inboxPrefix?: string) {
    this.#nc = nc;
    this.#ackTimeoutMs = ackTimeoutMs;
    this.#prefix = createInbox(inboxPrefix);
  }

  /**
   * Sends one message with `Nats-Msg-Id` set on `headers` (new ones when undefined); `onReply` gets its receipt, or the
   * Error that took its place, exactly once. Returns the Error when the message could not be sent at all.
   */
  send(
    subject: string,
    data: Uint8Array,
    msgId: string,
    headers: MsgHdrs | undefined,
    onReply: (reply: PublishReceipt | Error) => void,
  ): Error | undefined {
    this.#subscribe();
    const token = String(++this.#next);
    const hdrs = headers ?? natsHeaders();
    hdrs.set("Nats-Msg-Id", msgId);
    this.#waiting.set(token, { onReply, sentAt: performance.now() });
    try {
      this.#nc.publish(subject, data, { reply: `${this.#prefix}.${token}`, headers: hdrs });
    } catch (error) {
      this.#waiting.delete(token);
      return error instanceof Error ? error : new Error(String(error));
    }
    if (this.#sweep === undefined) this.#sweep = setTimeout(() => this.#expire(), this.#sweepEveryMs());
    return undefined;
  }

  /** `send` as a promise: the receipt, or a rejection with the Error that took its place. */
  publish(subject: string, data: Uint8Array, msgId: string, headers: MsgHdrs | undefined): Promise<PublishReceipt> {
    return new Promise((resolve, reject) => {
      const failed = this.send(subject, data, msgId, headers, (reply) =>
        reply instanceof Error ? reject(reply) : resolve(reply),
      );
      if (failed) reject(failed);
    });
  }

  #subscribe(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    this.#nc.subscribe(`${this.#prefix}.*`, {
      callback: (error, msg) => {
        if (error) return; // the waiters time out and are retried by their callers
        const token = msg.subject.slice(this.#prefix.length + 1);
        const waiter = this.#waiting.get(token);
        if (waiter === undefined) return; // already timed out
        this.#waiting.delete(token);
        waiter.onReply(receiptOf(msg));
      },
    });
  }

  /** A few sweeps per wait: a publish times out at most a quarter of the wait late. */
  #sweepEveryMs(): number {
    return Math.max(10, Math.min(250, this.#ackTimeoutMs / 4));
  }

  #expire(): void {
    this.#sweep = undefined;
    const now = performance.now();
    for (const [token, waiter] of this.#waiting) {
      if (now - waiter.sentAt < this.#ackTimeoutMs) break;
      this.#waiting.delete(token);
      waiter.onReply(new Error(`no PubAck within ${this.#ackTimeoutMs} ms (timeout)`));
    }
    if (this.#waiting.size > 0) this.#sweep = setTimeout(() => this.#expire(), this.#sweepEveryMs());
  }
}
