/**
 * BatchPublisher (normalize's announcements of a batch) on a real nats-server: one PubAck per
 * event, duplicates recognised by msg id, nothing sent for an invalid event, and the events whose
 * PubAck did not come in time published again through EventPublisher with the same msg id.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino, type Logger } from "pino";
import { Registry } from "prom-client";
import { BatchPublisher, EventPublisher, NonRetryableError, type PublishRequest } from "@aa/event-bus";
import { startNats, type PrivateNats } from "./helpers/nats.js";
import { waitFor } from "./helpers/wait.js";

const STREAM = "BATCH_PUBLISHER_TEST";
let server: PrivateNats;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ["bp.>"], duplicate_window: 120_000_000_000 });
});

after(async () => {
  await nc?.close();
  await server?.stop();
});

function publishers(options: { ackTimeoutMs?: number; retryBudgetMs?: number } = {}) {
  const registry = new Registry();
  const publisher = new EventPublisher({
    js: jetstream(nc),
    logger: pino({ level: "silent" }),
    registry,
    retryBudgetMs: options.retryBudgetMs,
  });
  return { registry, batch: new BatchPublisher({ nc, publisher, registry, ackTimeoutMs: options.ackTimeoutMs }) };
}

const requests = (subject: string, n: number): PublishRequest<{ n: number }>[] =>
  Array.from({ length: n }, (_, i) => ({ subject, msgId: `${subject}:${i}`, event: { n: i } }));

async function messagesOn(subject: string): Promise<number> {
  const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

test("each event of a batch gets its own PubAck; the same batch again is recognised as duplicates", async () => {
  const { batch, registry } = publishers();
  const first = await batch.publishAll(requests("bp.a", 200));
  for (const receipt of first) assert.ok(!(receipt instanceof Error), String(receipt));
  const seqs = first.map((r) => (r as { seq: number }).seq);
  assert.equal(new Set(seqs).size, 200, "one stream sequence per event");
  assert.ok(first.every((r) => !(r as { duplicate: boolean }).duplicate));

  const again = await batch.publishAll(requests("bp.a", 200));
  assert.ok(
    again.every((r) => !(r instanceof Error) && r.duplicate),
    "every msg id already stored",
  );
  assert.equal(await messagesOn("bp.a"), 200);
  const published = await registry.getSingleMetric("event_bus_events_published_total")?.get();
  const by = (status: string) => published?.values.find((v) => v.labels.status === status)?.value;
  assert.equal(by("success"), 200);
  assert.equal(by("duplicate"), 200);
});

test("an invalid event is refused with its errors and not sent; the others of the batch are", async () => {
  const { batch } = publishers();
  const batchOf3 = requests("bp.b", 3).map((r) => ({
    ...r,
    validate: (value: unknown) =>
      (value as { n: number }).n === 1
        ? { ok: false as const, errors: [{ field: "n", message: "must not be 1" }] }
        : { ok: true as const, value },
  }));
  const receipts = await batch.publishAll(batchOf3);
  assert.ok(receipts[1] instanceof NonRetryableError && /must not be 1/.test(receipts[1].message), String(receipts[1]));
  assert.ok(!(receipts[0] instanceof Error) && !(receipts[2] instanceof Error));
  assert.equal(await messagesOn("bp.b"), 2);
});

test("a subject no stream holds: each event's error comes back once the publisher's retries are spent", async () => {
  const { batch } = publishers({ retryBudgetMs: 300 });
  const startedAt = Date.now();
  const receipts = await batch.publishAll(requests("nowhere.c", 5));
  assert.ok(receipts.every((r) => r instanceof Error));
  assert.ok(Date.now() - startedAt < 10_000, "bounded by the retry budget, not hanging");
});

test("events whose PubAck did not come within the wait are published again with the same msg id", async () => {
  // A core NATS responder that answers each request 150 ms late, longer than the batch's 30 ms wait.
  const seen = new Map<string, number>();
  const slow = nc.subscribe("slow.d", {
    callback: (_error, msg) => {
      const id = msg.headers?.get("Nats-Msg-Id") ?? "?";
      seen.set(id, (seen.get(id) ?? 0) + 1);
      const seq = seen.size;
      setTimeout(() => msg.respond(JSON.stringify({ stream: "SLOW", seq })), 150);
    },
  });
  try {
    const { batch } = publishers({ ackTimeoutMs: 30 });
    const receipts = await batch.publishAll(requests("slow.d", 10));
    assert.ok(
      receipts.every((r) => !(r instanceof Error) && r.stream === "SLOW"),
      "every event got its PubAck",
    );
    assert.deepEqual([...seen.values()], Array(10).fill(2), "each sent by the batch, then once more by the publisher");
    assert.deepEqual(
      [...seen.keys()].sort(),
      requests("slow.d", 10)
        .map((r) => r.msgId)
        .sort(),
      "same msg ids",
    );
  } finally {
    slow.unsubscribe();
  }
});

/** An EventPublisher given its connection: first attempts are plain publishes acknowledged through its inbox. */
const leanPublisher = (options: { ackTimeoutMs?: number; retryBudgetMs?: number; logger?: Logger } = {}) =>
  new EventPublisher({
    js: jetstream(nc),
    nc,
    logger: pino({ level: "silent" }),
    registry: new Registry(),
    ...options,
  });

test("EventPublisher with its connection: every publish gets its own PubAck, a repeat is recognised as a duplicate", async () => {
  const publisher = leanPublisher();
  const first = await Promise.all(requests("bp.e", 100).map((r) => publisher.publish(r)));
  assert.equal(new Set(first.map((r) => r.seq)).size, 100, "one stream sequence per event");
  assert.ok(first.every((r) => r.stream === STREAM && !r.duplicate));
  const again = await Promise.all(requests("bp.e", 100).map((r) => publisher.publish(r)));
  assert.ok(
    again.every((r) => r.duplicate),
    "every msg id already stored",
  );
  assert.deepEqual(
    again.map((r) => r.seq),
    first.map((r) => r.seq),
    "the duplicates name the originals",
  );
  assert.equal(await messagesOn("bp.e"), 100);
});

test("EventPublisher with its connection: no stream for the subject yet is retried until one takes it", async () => {
  const retries: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void retries.push(line) });
  const publisher = leanPublisher({ retryBudgetMs: 10_000, logger });
  const receipt = publisher.publish({ subject: "late.f", msgId: "late.f:1", event: { n: 1 } });
  await waitFor(() => retries.some((line) => line.includes("no responders")), { what: "a no-responders retry" });
  await jsm.streams.add({ name: "LATE_F", subjects: ["late.f"] });
  try {
    const stored = await receipt;
    assert.equal(stored.stream, "LATE_F");
    assert.equal((await jsm.streams.info("LATE_F")).state.messages, 1);
  } finally {
    await jsm.streams.delete("LATE_F");
  }
});

test("EventPublisher with its connection: a PubAck later than the wait is asked for again with the same msg id", async () => {
  // A core NATS responder that answers an id's first request 150 ms late (after the 30 ms wait), later ones at once.
  const seen = new Map<string, number>();
  const slow = nc.subscribe("slow.g", {
    callback: (_error, msg) => {
      const id = msg.headers?.get("Nats-Msg-Id") ?? "?";
      const times = (seen.get(id) ?? 0) + 1;
      seen.set(id, times);
      const ack = JSON.stringify({ stream: "SLOW", seq: seen.size });
      if (times === 1) setTimeout(() => msg.respond(ack), 150);
      else msg.respond(ack);
    },
  });
  try {
    const publisher = leanPublisher({ ackTimeoutMs: 30 });
    const receipts = await Promise.all(requests("slow.g", 10).map((r) => publisher.publish(r)));
    assert.ok(receipts.every((r) => r.stream === "SLOW"));
    assert.deepEqual(
      [...seen.values()],
      Array(10).fill(2),
      "each sent once through the inbox, once more by js.publish",
    );
  } finally {
    slow.unsubscribe();
  }
});
