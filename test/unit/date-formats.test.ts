import assert from "node:assert/strict";
import { describe, test } from "node:test";
import addFormatsModule from "ajv-formats";
import { isDateTime, isFullDate } from "../../packages/contracts/src/formats.js";

// The contracts check `date` and `date-time` with their own allocation-free functions; these must accept exactly
// the strings ajv-formats' full mode accepts, which the schemas were written against.
// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const formats = addFormatsModule as unknown as typeof addFormatsModule.default;
const fullMode = (name: "date" | "date-time") =>
  (formats.get(name, "full") as { validate: (s: string) => boolean }).validate;
const reference = { date: fullMode("date"), dateTime: fullMode("date-time") };

/** A deterministic pseudo-random source (a linear congruential generator), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** Date-times built from edge values of every part, then some with one character replaced, dropped or doubled. */
function candidates(count: number, next: () => number): string[] {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  const years = [0, 1, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999];
  const months = [0, 1, 2, 3, 4, 6, 9, 11, 12, 13, 99];
  const days = [0, 1, 28, 29, 30, 31, 32, 99];
  const hours = [0, 1, 12, 22, 23, 24, 25, 99];
  const minutes = [0, 1, 30, 58, 59, 60, 99];
  const seconds = ["00", "30", "59", "60", "61", "99", "59.999", "60.5", "60.", "00.123456789"];
  const separators = ["T", "t", " ", "\t", "\u00a0", "\u2003", "x", "TT", ""];
  const offsets = ["Z", "z", "", "+00:00", "-00:00", "+01:00", "-01:00", "+23:59", "+24:00", "-00:60", "+0100"];
  const moreOffsets = ["-0130", "+01", "-23", "+1", "+01:0", "Zz", "+01:00Z", "+01::00", "-12:00", "+14:00"];
  const chars = "0123456789-:.+TtZz \n";
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const day = `${pad(pick(years), 4)}-${pad(pick(months), 2)}-${pad(pick(days), 2)}`;
    const time = `${pad(pick(hours), 2)}:${pad(pick(minutes), 2)}:${pick(seconds)}`;
    let text = `${day}${pick(separators)}${time}${pick([...offsets, ...moreOffsets])}`;
    if (next() < 0.3) {
      const at = Math.floor(next() * text.length);
      const change = pick(["replace", "drop", "double"]);
      const middle = change === "replace" ? pick([...chars]) : change === "double" ? `${text[at]}${text[at]}` : "";
      text = `${text.slice(0, at)}${middle}${text.slice(at + 1)}`;
    }
    out.push(text, day);
  }
  return out;
}

describe("date formats: the same verdicts as ajv-formats' full mode", () => {
  test("named cases", () => {
    const cases: Array<[string, boolean]> = [
      ["2024-02-29T12:00:00Z", true],
      ["2023-02-29T12:00:00Z", false],
      ["2100-02-29T00:00:00Z", false],
      ["2000-02-29T00:00:00+01:00", true],
      ["2025-10-02T08:30:00.123456Z", true],
      ["2025-10-02 08:30:00z", true],
      ["2025-10-02T08:30:00", false],
      ["2025-10-02T23:59:60Z", true],
      ["2025-10-02T00:59:60+01:00", true],
      ["2025-10-02T23:59:60+01:00", false],
      ["2025-10-02T24:00:00Z", false],
      ["2025-10-02T08:30:00+24:00", false],
      ["2025-10-02T08:30:00+01", true],
      ["2025-13-02T08:30:00Z", false],
      ["2025-10-02T08:30:00Z\n", false],
    ];
    for (const [text, expected] of cases) {
      assert.equal(reference.dateTime(text), expected, `ajv-formats on ${JSON.stringify(text)}`);
      assert.equal(isDateTime(text), expected, `isDateTime(${JSON.stringify(text)})`);
    }
    assert.equal(isFullDate("2024-02-29"), true);
    assert.equal(isFullDate("2023-02-29"), false);
    assert.equal(isFullDate("2025-04-31"), false);
    assert.equal(isFullDate("2025-1-01"), false);
  });

  test("200,000 generated strings, valid and not", () => {
    const next = random(27);
    const texts = candidates(100_000, next);
    let accepted = 0;
    for (const text of texts) {
      const expected = text.length === 10 ? reference.date(text) : reference.dateTime(text);
      const actual = text.length === 10 ? isFullDate(text) : isDateTime(text);
      assert.equal(actual, expected, `${JSON.stringify(text)}: ajv-formats says ${expected}`);
      if (expected) accepted++;
    }
    // Both verdicts are well represented, so agreement is not agreement on rejecting everything.
    assert.ok(accepted > texts.length / 10 && accepted < (texts.length * 9) / 10, `${accepted} of ${texts.length}`);
  });
});
