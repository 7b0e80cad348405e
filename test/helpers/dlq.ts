import { spawn, type ChildProcess } from "node:child_process";
import { DlqHeaders } from "@aa/event-bus";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { CliRun } from "./cli.js";
import { ROOT } from "./ops-scripts.js";

/**
 * Starts the built `aa-ops` in the background (clean env: PATH, HOME, NATS_URL), for a test that
 * acts while it runs, such as killing the broker mid-replay. `aaOps` in ./cli.js waits instead.
 */
export function startAaOps(natsUrl: string, args: readonly string[]): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [`${ROOT}/tools/ops/dist/cli.js`, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NATS_URL: natsUrl },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliRun>((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** A dead letter as the normalize router writes it (see packages/event-bus/src/dlq.ts), for filter tests. */
export interface SeedEntry {
  reason: string;
  originalSubject: string;
  msgId: string;
  payload: unknown;
  originalSequence?: number;
  deliveryCount?: number;
  /** The DLQ subject to publish to; default: where a consumer of `originalSubject` dead-letters it. */
  dlqSubject?: string;
}

/** Publishes a DLQ entry by hand; returns its DLQ sequence. */
export async function seedDlq(js: JetStreamClient, entry: SeedEntry): Promise<number> {
  const h = natsHeaders();
  const now = new Date().toISOString();
  h.set(DlqHeaders.reason, entry.reason);
  h.set(DlqHeaders.error, `seeded ${entry.reason}`);
  h.set(DlqHeaders.originalSubject, entry.originalSubject);
  h.set(DlqHeaders.originalStream, entry.originalSubject.startsWith("vendor.") ? "AA_VENDOR_HOT" : "AA_CORE_HOT");
  h.set(DlqHeaders.originalSequence, String(entry.originalSequence ?? 1_000_000));
  h.set(DlqHeaders.originalMsgId, entry.msgId);
  h.set(DlqHeaders.durable, "seeded-durable");
  h.set(DlqHeaders.deliveryCount, String(entry.deliveryCount ?? 1));
  h.set(DlqHeaders.failedAt, now);
  h.set(DlqHeaders.originalPublishedAt, now);
  h.set(DlqHeaders.service, "test");
  const subject =
    entry.dlqSubject ??
    `dlq.test.${entry.originalSubject.replace(/^athlete-ally\./, "")}.${entry.reason.replaceAll("_", "-")}`;
  return (await js.publish(subject, JSON.stringify(entry.payload), { headers: h })).seq;
}

/** The sequences the DLQ holds now, newest first. */
export async function dlqSeqs(jsm: JetStreamManager, stream = "AA_DLQ"): Promise<number[]> {
  const { state } = await jsm.streams.info(stream);
  const seqs: number[] = [];
  for (let seq = state.last_seq; seq >= state.first_seq && state.messages > 0; seq--) {
    if (await jsm.streams.getMessage(stream, { seq })) seqs.push(seq);
  }
  return seqs;
}

/** A valid `athlete-ally.hrv.raw-received` event, as ingest would publish it. */
export function hrvEvent(eventId: string, rmssd = 55): Record<string, unknown> {
  return { eventId, userId: eventId, date: "2025-10-02", rmssd, receivedAt: new Date().toISOString() };
}

/** The value of the first Prometheus sample whose line matches, 0 when absent. */
export async function metricValue(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => pattern.test(l));
  return line ? Number(line.split(" ").at(-1)) : 0;
}
