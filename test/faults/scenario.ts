import assert from "node:assert/strict";
import type { JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { Subjects } from "@aa/contracts";
import { createStack, type Stack } from "../helpers/stack.js";
import { waitFor } from "../helpers/wait.js";
import { audit, type AuditReport } from "./auditor.js";
import type { Ledger, LedgerLoad } from "./ledger.js";

/** Every fault scenario must end like this: nothing lost, invented, doubled, or dead-lettered by a transient fault. */
export function assertClean(report: AuditReport): void {
  const bad = {
    lost: report.lost,
    unexpected: report.unexpected,
    both: report.both,
    duplicates: report.duplicates,
    transientDlq: report.transientDlq,
  };
  assert.deepEqual(bad, { lost: 0, unexpected: 0, both: 0, duplicates: 0, transientDlq: 0 }, JSON.stringify(report));
  assert.ok(report.accepted > 0, "the scenario accepted nothing");
}

/** Fails if ingest or normalize exited: an outage must not kill a service. */
export function assertServicesAlive(stack: Stack): void {
  for (const service of [stack.ingest, stack.normalize])
    assert.equal(service?.process.exitCode, null, `${service?.name} exited:\n${service?.lines.slice(-5).join("\n")}`);
}

/**
 * Call as the fault ends: lets `load` finish, then audits it under `scenario` (assertClean).
 * `servicesAlive`: first fail if a service exited. `faultEndedAt`: when the fault ended, if
 * earlier than the call (recovery is measured from it).
 */
export async function finishAndAudit(
  stack: Stack,
  load: LedgerLoad,
  scenario: string,
  o: { servicesAlive?: boolean; poisonIds?: string[]; faultEndedAt?: number } = {},
): Promise<void> {
  const faultEndedAt = o.faultEndedAt ?? Date.now();
  const ledger = await load.finish();
  if (o.servicesAlive) assertServicesAlive(stack);
  assertClean(
    await audit({ scenario, ledger, jsm: stack.jsm, pool: stack.db.pool, faultEndedAt, poisonIds: o.poisonIds }),
  );
}

/** Shortens the ack wait of every durable, so a message held by a killed worker comes back soon. */
export async function setAckWait(jsm: JetStreamManager, ms: number): Promise<void> {
  for await (const stream of jsm.streams.list()) {
    for await (const consumer of jsm.consumers.list(stream.config.name)) {
      await jsm.consumers.update(stream.config.name, consumer.name, { ack_wait: nanos(ms) });
    }
  }
}

/** A stack in multi mode with both services; the caller closes it. */
export async function faultStack(
  o: { databaseUrl?: string; normalizeEnv?: Record<string, string>; ingestEnv?: Record<string, string> } = {},
): Promise<Stack> {
  const stack = await createStack({ mode: "multi", databaseUrl: o.databaseUrl });
  await stack.startNormalize(o.normalizeEnv);
  await stack.startIngest(o.ingestEnv);
  return stack;
}

/** Publishes schema-invalid HRV events straight to the stream (ingest would reject them) and records them as poison. */
export async function publishPoison(stack: Stack, ledger: Ledger, prefix: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    const eventId = `${prefix}-poison-${i}`;
    const payload = JSON.stringify({
      eventId,
      userId: eventId,
      date: "2025-13-45",
      rmssd: -1,
      receivedAt: new Date().toISOString(),
    });
    await stack.js.publish(Subjects.hrvRawReceived.subject, payload, { msgID: eventId });
    ledger.record(eventId, "poison", 202);
    ids.push(eventId);
  }
  return ids;
}

/** Restarts a service that a crash point killed (waits for the exit first), with the crash point off. */
export async function restartAfterCrash(
  stack: Stack,
  name: "ingest" | "normalize",
  env: Record<string, string> = {},
): Promise<void> {
  const service = name === "ingest" ? stack.ingest : stack.normalize;
  assert.ok(service);
  await waitFor(() => service.process.signalCode === "SIGKILL" || service.process.exitCode !== null, {
    timeoutMs: 120_000,
    what: `${name} crash point reached`,
  });
  if (name === "ingest") await stack.startIngest(env);
  else await stack.startNormalize(env);
}

/**
 * Waits until `count` more events of `ledger` are acked than when called: the load is seen flowing (before a
 * fault, or on while a component is down), not assumed after a fixed time.
 */
export async function moreAcked(ledger: Ledger, count: number, what: string): Promise<void> {
  const target = ledger.count("acked") + count;
  await waitFor(() => ledger.count("acked") >= target, {
    what: `${count} more acked events: ${what}`,
    timeoutMs: 60_000,
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
