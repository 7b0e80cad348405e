import { Type, type Static } from "@sinclair/typebox";
import { compileValidator, type FieldError, type Validation } from "./validation.js";

/** A user id: 1–128 characters, none of them control or format characters. */
export const UserId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[^\\p{C}]+$" });
/** A real calendar day, `YYYY-MM-DD` (ajv-formats checks month lengths and leap years). */
export const CalendarDate = Type.String({ format: "date" });
/** ISO-8601 with an explicit offset or `Z`. */
export const Timestamp = Type.String({ format: "date-time" });
/** Stable event id: the `Nats-Msg-Id`, the row's uniqueness key and the DLQ correlation key. */
export const EventId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" });

/** The body of `POST /ingest/hrv`: one HRV reading. */
export const HrvReadingSchema = Type.Object(
  {
    userId: UserId,
    date: CalendarDate,
    /** Root mean square of successive differences, in milliseconds: (0, 1000]. */
    rmssd: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }),
    capturedAt: Type.Optional(Timestamp),
    eventId: Type.Optional(EventId),
    raw: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
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

const DAY_MS = 86_400_000;

/** Rules a JSON schema cannot say: nothing dated more than a day ahead of `now`. */
function checkNotInFuture(reading: { date: string; capturedAt?: string }, now: Date): FieldError[] {
  const errors: FieldError[] = [];
  const latestDay = new Date(now.getTime() + DAY_MS).toISOString().slice(0, 10);
  if (reading.date > latestDay) {
    errors.push({ field: "date", message: `must not be more than one day in the future, got "${reading.date}"` });
  }
  if (reading.capturedAt !== undefined && Date.parse(reading.capturedAt) > now.getTime() + DAY_MS) {
    errors.push({ field: "capturedAt", message: `must not be more than one day in the future, got "${reading.capturedAt}"` });
  }
  return errors;
}

function withDateRules<T extends { date: string; capturedAt?: string }>(
  validate: (value: unknown) => Validation<T>,
): (value: unknown, now?: Date) => Validation<T> {
  return (value, now = new Date()) => {
    const result = validate(value);
    if (!result.ok) return result;
    const errors = checkNotInFuture(result.value, now);
    return errors.length === 0 ? result : { ok: false, errors };
  };
}

export const validateHrvReading = withDateRules(compileValidator(HrvReadingSchema));
export const validateHrvRawReceived = withDateRules(compileValidator(HrvRawReceivedSchema));
export const validateHrvNormalizedStored = compileValidator(HrvNormalizedStoredSchema);
