import { Subjects, validateSleepRawReceived, validateSleepReading } from "@aa/contracts";
import type { EventPublisher } from "@aa/event-bus";
import { readingRoutes } from "./reading.js";

/** `POST /ingest/sleep` (and `/api/v1/ingest/sleep`) → `athlete-ally.sleep.raw-received`. */
export function sleepRoutes(
  publisher: EventPublisher,
  now: () => Date,
  batchBodyLimitBytes: number,
  afterPubAck?: () => void,
) {
  const route = {
    kind: "sleep" as const,
    label: "Sleep",
    noun: "sleep reading",
    subject: Subjects.sleepRawReceived.subject,
    validateReading: validateSleepReading,
    validateEvent: validateSleepRawReceived,
  };
  return readingRoutes(route, publisher, now, batchBodyLimitBytes, afterPubAck);
}
