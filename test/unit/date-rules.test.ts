import assert from "node:assert/strict";
import { test } from "node:test";
import { CAPTURED_AT_MAX_SKEW_MS, ReadingKinds, type FieldError, type Validation } from "@aa/contracts";

// The date rules every kind shares (`withDateRules`, applied once in `readingKind`): checked on each kind's client
// reading (`POST /ingest/<kind>`) and its raw-received event (what normalize accepts from a stream).
const NOW = new Date("2026-12-05T10:00:00.000Z");
const VALUES = { hrv: { rmssd: 55 }, sleep: { durationMinutes: 420 } } as const;
const kinds = Object.values(ReadingKinds);

const reading = (kind: keyof typeof VALUES, over: Record<string, unknown>) => ({
  userId: "u1",
  date: "2026-12-05",
  ...VALUES[kind],
  ...over,
});
const event = (kind: keyof typeof VALUES, over: Record<string, unknown>) =>
  reading(kind, { eventId: "e-1", receivedAt: NOW.toISOString(), ...over });

const errorsOf = (result: Validation<unknown>): FieldError[] => (result.ok ? [] : result.errors);
const fieldsOf = (result: Validation<unknown>): string[] => errorsOf(result).map((e) => e.field);
const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

for (const { kind, validateReading, validateRawReceived } of kinds) {
  const both = [
    ["reading", (over: Record<string, unknown>) => validateReading(reading(kind, over), NOW)],
    ["raw-received", (over: Record<string, unknown>) => validateRawReceived(event(kind, over), NOW)],
  ] as const;

  for (const [what, validate] of both) {
    test(`${kind} ${what}: date must be a real calendar day in YYYY-MM-DD form`, () => {
      for (const bad of ["2025-13-45", "2025-02-29", "2026-04-31", "2026-12-5", "05.12.2026", "2026-12-05T00:00:00Z"]) {
        const errors = errorsOf(validate({ date: bad }));
        assert.deepEqual(
          errors.map((e) => e.field),
          ["date"],
          bad,
        );
        assert.match(errors[0]?.message ?? "", /must be a real calendar date in YYYY-MM-DD form/);
      }
      assert.equal(validate({ date: "2024-02-29" }).ok, true, "a leap day");
    });

    test(`${kind} ${what}: date may be at most one day after now's UTC day, and any day before`, () => {
      assert.equal(validate({ date: "2026-12-06" }).ok, true, "tomorrow (a time zone ahead of UTC)");
      assert.equal(validate({ date: "1999-01-01" }).ok, true, "a day long past");
      const errors = errorsOf(validate({ date: "2026-12-07" }));
      assert.deepEqual(errors, [
        { field: "date", message: 'must not be more than one day in the future, got "2026-12-07"' },
      ]);
    });

    test(`${kind} ${what}: capturedAt needs a time zone offset or Z`, () => {
      assert.deepEqual(fieldsOf(validate({ capturedAt: "2026-12-05T08:00:00" })), ["capturedAt"]);
      assert.equal(validate({ capturedAt: "2026-12-05T08:00:00+02:00" }).ok, true);
    });

    test(`${kind} ${what}: the date rules run only on a reading the schema accepts`, () => {
      const errors = errorsOf(validate({ date: "2026-12-09", raw: "not an object" }));
      assert.deepEqual(
        errors.map((e) => e.field),
        ["raw"],
      );
    });
  }

  test(`${kind} reading: capturedAt at most ${CAPTURED_AT_MAX_SKEW_MS / 60_000} minutes after the time received`, () => {
    assert.equal(validateReading(reading(kind, { capturedAt: at(CAPTURED_AT_MAX_SKEW_MS) }), NOW).ok, true);
    const late = at(CAPTURED_AT_MAX_SKEW_MS + 1);
    assert.deepEqual(errorsOf(validateReading(reading(kind, { capturedAt: late }), NOW)), [
      {
        field: "capturedAt",
        message: `must not be more than 5 minutes after the time received (at most 2026-12-05T10:05:00.000Z), got "${late}"`,
      },
    ]);
  });

  test(`${kind} raw-received: an event in a stream keeps a day's slack for capturedAt, as a previous release had`, () => {
    const day = 86_400_000;
    assert.equal(validateRawReceived(event(kind, { capturedAt: at(6 * 3_600_000) }), NOW).ok, true);
    assert.equal(validateRawReceived(event(kind, { capturedAt: at(day) }), NOW).ok, true);
    const errors = errorsOf(validateRawReceived(event(kind, { capturedAt: at(day + 1) }), NOW));
    assert.deepEqual(
      errors.map((e) => e.field),
      ["capturedAt"],
    );
    assert.match(errors[0]?.message ?? "", /^must not be more than one day after the time received/);
  });

  test(`${kind}: a bad date and a bad capturedAt are reported together`, () => {
    const result = validateReading(reading(kind, { date: "2026-12-08", capturedAt: at(3_600_000) }), NOW);
    assert.deepEqual(fieldsOf(result), ["date", "capturedAt"]);
  });
}
