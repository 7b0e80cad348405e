import {
  Subjects,
  validateHrvNormalizedStored,
  validateHrvRawReceived,
  type HrvNormalizedStored,
  type HrvRawReceived,
} from "@aa/contracts";
import type { DurableConsumer } from "@aa/event-bus";
import { normalizeHrv, type HrvRow } from "./hrv.js";
import { writeHrv, writeHrvBatch } from "./hrv-store.js";
import { readingConsumer, type ConsumerDeps, type ReadingFlow } from "./reading-flow.js";

/** `athlete-ally.hrv.raw-received` → `hrv_data` (with ln(rmssd)) → `athlete-ally.hrv.normalized-stored`. */
export const hrvFlow: ReadingFlow<HrvRawReceived, HrvRow, HrvNormalizedStored> = {
  kind: "hrv",
  label: "HRV",
  rawSubject: Subjects.hrvRawReceived.subject,
  storedSubject: Subjects.hrvNormalizedStored.subject,
  validateRaw: validateHrvRawReceived,
  toRow: normalizeHrv,
  write: writeHrv,
  writeBatch: writeHrvBatch,
  toStored: (row, storedAt) => ({
    eventId: row.eventId,
    userId: row.userId,
    date: row.date,
    rmssd: row.rmssd,
    lnRmssd: row.lnRmssd,
    capturedAt: row.capturedAt,
    storedAt,
  }),
  validateStored: validateHrvNormalizedStored,
};

export const hrvConsumer = (deps: ConsumerDeps): DurableConsumer<HrvRawReceived> => readingConsumer(hrvFlow, deps);
