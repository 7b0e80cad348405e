import { Type } from "@sinclair/typebox";
import type { FieldError, Validation } from "./validation.js";

/** A user id: 1–128 characters, none of them control or format characters. */
export const UserId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[^\\p{C}]+$" });
/** A real calendar day, `YYYY-MM-DD` (ajv-formats checks month lengths and leap years). */
export const CalendarDate = Type.String({ format: "date" });
/** ISO-8601 with an explicit offset or `Z`. */
export const Timestamp = Type.String({ format: "date-time" });
/**
 * The client's event id. With the reading's kind, source and user it makes the reading's identity (see `readingKey`).
 */
export const EventId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" });
/** The source document of a reading, any JSON object, stored as-is. */
export const RawDocument = Type.Record(Type.String(), Type.Unknown());

const DAY_MS = 86_400_000;

/** Rules a JSON schema cannot say: nothing dated more than a day ahead of `now`. */
function checkNotInFuture(reading: { date: string; capturedAt?: string }, now: Date): FieldError[] {
  const errors: FieldError[] = [];
  const latestDay = new Date(now.getTime() + DAY_MS).toISOString().slice(0, 10);
  if (reading.date > latestDay) {
    errors.push({ field: "date", message: `must not be more than one day in the future, got "${reading.date}"` });
  }
  if (reading.capturedAt !== undefined && Date.parse(reading.capturedAt) > now.getTime() + DAY_MS) {
    errors.push({
      field: "capturedAt",
      message: `must not be more than one day in the future, got "${reading.capturedAt}"`,
    });
  }
  return errors;
}

/** Adds the date rules every dated reading shares to a schema validator; `now` defaults to the current time. */
export function withDateRules<T extends { date: string; capturedAt?: string }>(
  validate: (value: unknown) => Validation<T>,
): (value: unknown, now?: Date) => Validation<T> {
  return (value, now = new Date()) => {
    const result = validate(value);
    if (!result.ok) return result;
    const errors = checkNotInFuture(result.value, now);
    return errors.length === 0 ? result : { ok: false, errors };
  };
}
