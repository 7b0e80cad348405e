import { Type, type Static } from "@sinclair/typebox";
import {
  CAPTURED_AT_MAX_SKEW_MS,
  CalendarDate,
  EventId,
  RawDocument,
  Timestamp,
  UserId,
  withDateRules,
} from "./common.js";
import { EventSource } from "./identity.js";
import { compileValidator } from "./validation.js";

/** The body of `POST /ingest/hrv`: one HRV reading. */
export const HrvReadingSchema = Type.Object(
  {
    userId: UserId,
    date: CalendarDate,
    /** Root mean square of successive differences, in milliseconds: (0, 1000]. */
    rmssd: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }),
    capturedAt: Type.Optional(Timestamp),
    eventId: Type.Optional(EventId),
    raw: Type.Optional(RawDocument),
  },
  { additionalProperties: false },
);
export type HrvReading = Static<typeof HrvReadingSchema>;

/** `athlete-ally.hrv.raw-received`: a reading accepted by ingest, with its stable id. */
export const HrvRawReceivedSchema = Type.Object(
  {
    ...HrvReadingSchema.properties,
    eventId: EventId,
    /** When ingest accepted the reading; orders replays when `capturedAt` is absent. */
    receivedAt: Timestamp,
    /**
     * Who sent it (see `EventSource`); with kind, user and eventId it is the reading's identity.
     * Absent only in events published before scoped identity: normalize reads that as `unscoped`.
     */
    source: Type.Optional(EventSource),
  },
  { additionalProperties: false },
);
export type HrvRawReceived = Static<typeof HrvRawReceivedSchema>;

/** `athlete-ally.hrv.normalized-stored`: published after the row is committed. */
export const HrvNormalizedStoredSchema = Type.Object(
  {
    eventId: EventId,
    userId: UserId,
    date: CalendarDate,
    rmssd: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }),
    lnRmssd: Type.Number(),
    capturedAt: Timestamp,
    storedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type HrvNormalizedStored = Static<typeof HrvNormalizedStoredSchema>;

export const validateHrvReading = withDateRules(compileValidator(HrvReadingSchema), {
  capturedAtAheadMs: CAPTURED_AT_MAX_SKEW_MS,
});
export const validateHrvRawReceived = withDateRules(compileValidator(HrvRawReceivedSchema));
export const validateHrvNormalizedStored = compileValidator(HrvNormalizedStoredSchema);
