import { Subjects, validateHrvRawReceived, validateHrvReading } from "@aa/contracts";
import type { EventPublisher } from "@aa/event-bus";
import { readingRoutes } from "./reading.js";

/** `POST /ingest/hrv` (and `/api/v1/ingest/hrv`) → `athlete-ally.hrv.raw-received`. */
export function hrvRoutes(
  publisher: EventPublisher,
  now: () => Date,
  batchBodyLimitBytes: number,
  afterPubAck?: () => void,
) {
  const route = {
    kind: "hrv" as const,
    label: "HRV",
    noun: "HRV reading",
    subject: Subjects.hrvRawReceived.subject,
    validateReading: validateHrvReading,
    validateEvent: validateHrvRawReceived,
  };
  return readingRoutes(route, publisher, now, batchBodyLimitBytes, afterPubAck);
}
