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

/** Time asleep in minutes, fractions kept: [0, 1440] (at most a whole day). */
export const SleepDurationMinutes = Type.Number({ minimum: 0, maximum: 1440 });
/** Sleep quality score: [0, 100]. */
export const SleepQualityScore = Type.Number({ minimum: 0, maximum: 100 });

/** The body of `POST /ingest/sleep`: one night's sleep. */
export const SleepReadingSchema = Type.Object(
  {
    userId: UserId,
    date: CalendarDate,
    durationMinutes: SleepDurationMinutes,
    qualityScore: Type.Optional(SleepQualityScore),
    capturedAt: Type.Optional(Timestamp),
    eventId: Type.Optional(EventId),
    raw: Type.Optional(RawDocument),
  },
  { additionalProperties: false },
);
export type SleepReading = Static<typeof SleepReadingSchema>;

/** `athlete-ally.sleep.raw-received`: a reading accepted by ingest, with its stable id. */
export const SleepRawReceivedSchema = Type.Object(
  {
    ...SleepReadingSchema.properties,
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
export type SleepRawReceived = Static<typeof SleepRawReceivedSchema>;

/** `athlete-ally.sleep.normalized-stored`: published after the row is committed. */
export const SleepNormalizedStoredSchema = Type.Object(
  {
    eventId: EventId,
    userId: UserId,
    date: CalendarDate,
    durationMinutes: SleepDurationMinutes,
    /** Absent when the reading had none. */
    qualityScore: Type.Optional(SleepQualityScore),
    capturedAt: Timestamp,
    storedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type SleepNormalizedStored = Static<typeof SleepNormalizedStoredSchema>;

export const validateSleepReading = withDateRules(compileValidator(SleepReadingSchema), {
  capturedAtAheadMs: CAPTURED_AT_MAX_SKEW_MS,
});
export const validateSleepRawReceived = withDateRules(compileValidator(SleepRawReceivedSchema));
export const validateSleepNormalizedStored = compileValidator(SleepNormalizedStoredSchema);
