import { Type } from "@sinclair/typebox";
import { readingKind, type RawReceivedOf } from "./reading-kind.js";

/** Root mean square of successive differences, in milliseconds: (0, 1000]. */
const Rmssd = Type.Number({ exclusiveMinimum: 0, maximum: 1000 });
/** Time asleep in minutes, fractions kept: [0, 1440] (at most a whole day). */
export const SleepDurationMinutes = Type.Number({ minimum: 0, maximum: 1440 });
/** Sleep quality score: [0, 100]. */
export const SleepQualityScore = Type.Number({ minimum: 0, maximum: 100 });

/**
 * Every kind of reading: its values as the client sends them, and those normalize stores when it derives more. A new
 * kind is one entry here (and one in normalize's `reading-kinds.ts`); see docs/reading-kinds.md.
 */
export const ReadingKinds = {
  /** One HRV reading a day; normalize adds ln(rmssd). */
  hrv: readingKind("hrv", {
    values: { rmssd: Rmssd },
    stored: { rmssd: Rmssd, lnRmssd: Type.Number() },
  }),
  /** One night's sleep; `qualityScore` is absent from the announcement when the reading had none. */
  sleep: readingKind("sleep", {
    values: { durationMinutes: SleepDurationMinutes, qualityScore: Type.Optional(SleepQualityScore) },
  }),
};

/** The kinds of reading with their own identity space (and table). */
export type ReadingKind = keyof typeof ReadingKinds;

// The first two kinds' names that ingest, normalize's Oura mapping, the rehearsal and tests import. A new kind needs
// none: `ReadingKinds.<kind>` and `RawReceivedOf<typeof ReadingKinds.<kind>>` say it all.
export const HrvRawReceivedSchema = ReadingKinds.hrv.rawReceivedSchema;
export const validateHrvReading = ReadingKinds.hrv.validateReading;
export const validateHrvRawReceived = ReadingKinds.hrv.validateRawReceived;
export type HrvRawReceived = RawReceivedOf<typeof ReadingKinds.hrv>;

export const SleepRawReceivedSchema = ReadingKinds.sleep.rawReceivedSchema;
export const validateSleepReading = ReadingKinds.sleep.validateReading;
export const validateSleepRawReceived = ReadingKinds.sleep.validateRawReceived;
export type SleepRawReceived = RawReceivedOf<typeof ReadingKinds.sleep>;
