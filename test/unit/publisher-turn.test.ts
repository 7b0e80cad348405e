import assert from "node:assert/strict";
import { test } from "node:test";
import type { JetStreamClient } from "@nats-io/jetstream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { EventPublisher } from "@aa/event-bus";

/** A JetStream client that records when each publish reaches it and acks it at once. */
function recordingJs(log: string[]): JetStreamClient {
  let seq = 0;
  const publish = async (subject: string, _data: unknown, options?: { msgID?: string }) => {
    log.push(`publish ${options?.msgID}`);
    return { stream: "S", seq: ++seq, duplicate: false, domain: "" };
  };
  return { publish } as unknown as JetStreamClient;
}

const publisherOf = (log: string[]) =>
  new EventPublisher({ js: recordingJs(log), logger: pino({ level: "silent" }), registry: new Registry() });

test("publishes started in one event-loop turn reach nats.js together, after the turn, so they share one socket write", async () => {
  const log: string[] = [];
  const publisher = publisherOf(log);
  const subject = "athlete-ally.hrv.raw-received";
  const receipts = ["a", "b", "c"].map((msgId) => publisher.publish({ subject, msgId, event: { msgId } }));
  log.push("turn ends");
  await Promise.resolve();
  assert.deepEqual(log, ["turn ends"], "nothing reaches nats.js inside the turn");
  const acks = await Promise.all(receipts);
  assert.deepEqual(log, ["turn ends", "publish a", "publish b", "publish c"]);
  assert.deepEqual(
    acks.map((a) => a.seq),
    [1, 2, 3],
  );
});

test("a publish in a later turn waits for that turn only", async () => {
  const log: string[] = [];
  const publisher = publisherOf(log);
  const subject = "athlete-ally.hrv.raw-received";
  await publisher.publish({ subject, msgId: "first", event: {} });
  await new Promise((resolve) => setImmediate(resolve));
  await publisher.publish({ subject, msgId: "second", event: {} });
  assert.deepEqual(log, ["publish first", "publish second"]);
});
