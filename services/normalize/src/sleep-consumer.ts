import {
  Subjects,
  validateSleepNormalizedStored,
  validateSleepRawReceived,
  type SleepNormalizedStored,
  type SleepRawReceived,
} from "@aa/contracts";
import type { DurableConsumer } from "@aa/event-bus";
import { normalizeSleep, type SleepRow } from "./sleep.js";
import { writeSleep, writeSleepBatch } from "./sleep-store.js";
import { readingConsumer, type ConsumerDeps, type ReadingFlow } from "./reading-flow.js";

/** `athlete-ally.sleep.raw-received` → `sleep_data` → `athlete-ally.sleep.normalized-stored`. */
export const sleepFlow: ReadingFlow<SleepRawReceived, SleepRow, SleepNormalizedStored> = {
  kind: "sleep",
  label: "Sleep",
  rawSubject: Subjects.sleepRawReceived.subject,
  storedSubject: Subjects.sleepNormalizedStored.subject,
  validateRaw: validateSleepRawReceived,
  toRow: normalizeSleep,
  write: writeSleep,
  writeBatch: writeSleepBatch,
  toStored: (row, storedAt) => ({
    eventId: row.eventId,
    userId: row.userId,
    date: row.date,
    durationMinutes: row.durationMinutes,
    ...(row.qualityScore === null ? {} : { qualityScore: row.qualityScore }),
    capturedAt: row.capturedAt,
    storedAt,
  }),
  validateStored: validateSleepNormalizedStored,
};

export const sleepConsumer = (deps: ConsumerDeps): DurableConsumer<SleepRawReceived> =>
  readingConsumer(sleepFlow, deps);
