import { Type } from "@sinclair/typebox";
import type { FieldError, Validation } from "./validation.js";

/** A user id: 1–128 characters, none of them control or format characters. */
export const UserId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[^\\p{C}]+$" });
/** A real calendar day, `YYYY-MM-DD` (month lengths and leap years checked: formats.ts). */
export const CalendarDate = Type.String({ format: "date" });
/** ISO-8601 with an explicit offset or `Z`. */
export const Timestamp = Type.String({ format: "date-time" });
/**
 * The client's event id. With the reading's kind, source and user it makes the reading's identity (see `readingKey`).
 */
export const EventId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" });
/** The source document of a reading, any JSON object, stored as-is. */
export const RawDocument = Type.Record(Type.String(), Type.Unknown());
/**
 * Who a reading came from, the part of its identity the client does not choose:
 * `tenant:<tenant>` for an API key, `jwt:<issuer>#<tenant>` for a JWT, `anonymous` when ingest
 * runs without authentication, `vendor:oura` for readings normalize derives from Oura documents.
 * Each kind of credential has its own prefix, so no name chosen in one (a key's tenant, a token's
 * `sub`) can take the identity of another.
 */
export const EventSource = Type.String({ minLength: 1, maxLength: 256, pattern: "^[^\\p{C}]+$" });

const DAY_MS = 86_400_000;

/**
 * How far a client's `capturedAt` may run ahead of the moment ingest receives it: clock skew, not a day. A later
 * capturedAt would let one source outrank its own later readings of the day (the newest capturedAt wins within a
 * source) until that time passed.
 */
export const CAPTURED_AT_MAX_SKEW_MS = 5 * 60_000;

/** How far ahead of `now` a reading's `date` and `capturedAt` may be. */
export interface DateBounds {
  /** `capturedAt` may be at most this many milliseconds after `now`; default one day. */
  capturedAtAheadMs?: number;
}

function describeAhead(ms: number): string {
  return ms === DAY_MS ? "one day" : `${ms / 60_000} minutes`;
}

/** Rules a JSON schema cannot say: nothing dated more than a day ahead of `now`, nor captured too far ahead. */
function checkNotInFuture(reading: { date: string; capturedAt?: string }, now: Date, aheadMs: number): FieldError[] {
  const errors: FieldError[] = [];
  const latestDay = new Date(now.getTime() + DAY_MS).toISOString().slice(0, 10);
  if (reading.date > latestDay) {
    errors.push({ field: "date", message: `must not be more than one day in the future, got "${reading.date}"` });
  }
  if (reading.capturedAt !== undefined && Date.parse(reading.capturedAt) > now.getTime() + aheadMs) {
    const bound = new Date(now.getTime() + aheadMs).toISOString();
    errors.push({
      field: "capturedAt",
      message:
        `must not be more than ${describeAhead(aheadMs)} after the time received (at most ${bound}), ` +
        `got "${reading.capturedAt}"`,
    });
  }
  return errors;
}

/**
 * Adds the date rules every dated reading shares to a schema validator; `now` defaults to the current time. A client's
 * reading (`POST /ingest/<kind>`) takes `capturedAtAheadMs: CAPTURED_AT_MAX_SKEW_MS`; an event already in a stream
 * keeps the day, so events a previous release accepted are still stored.
 */
export function withDateRules<T extends { date: string; capturedAt?: string }>(
  validate: (value: unknown) => Validation<T>,
  bounds: DateBounds = {},
): (value: unknown, now?: Date) => Validation<T> {
  const aheadMs = bounds.capturedAtAheadMs ?? DAY_MS;
  return (value, now = new Date()) => {
    const result = validate(value);
    if (!result.ok) return result;
    const errors = checkNotInFuture(result.value, now, aheadMs);
    return errors.length === 0 ? result : { ok: false, errors };
  };
}
