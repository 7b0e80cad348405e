import {
  Subjects,
  validateHrvRawReceived,
  validateHrvReading,
  validateSleepRawReceived,
  validateSleepReading,
} from "@aa/contracts";
import type { ReadingRoute } from "./core.js";

/**
 * Every reading kind ingest accepts: each gets `POST /ingest/<kind>`, `/ingest/<kind>/batch` and their `/api/v1`
 * twins, published on its `raw-received` subject.
 */
export const READING_ROUTES: readonly ReadingRoute<{ eventId?: string; userId: string }>[] = [
  {
    kind: "hrv",
    label: "HRV",
    noun: "HRV reading",
    subject: Subjects.hrvRawReceived.subject,
    validateReading: validateHrvReading,
    validateEvent: validateHrvRawReceived,
  },
  {
    kind: "sleep",
    label: "Sleep",
    noun: "sleep reading",
    subject: Subjects.sleepRawReceived.subject,
    validateReading: validateSleepReading,
    validateEvent: validateSleepRawReceived,
  },
];
