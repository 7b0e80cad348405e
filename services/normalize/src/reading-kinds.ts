import { ReadingKinds } from "@aa/contracts";
import { kindConsumer, type KindConsumer, type ReadingKindSpec } from "./reading-kind.js";

/** `athlete-ally.hrv.raw-received` → `hrv_data` (with ln(rmssd)) → `athlete-ally.hrv.normalized-stored`. */
export const hrv: ReadingKindSpec<typeof ReadingKinds.hrv> = {
  contract: ReadingKinds.hrv,
  label: "HRV",
  table: "hrv_data",
  // The schema guarantees 0 < rmssd <= 1000, so the log is finite.
  values: (event) => ({ rmssd: event.rmssd, lnRmssd: Math.log(event.rmssd) }),
  columns: { rmssd: { column: "rmssd", type: "float8" }, lnRmssd: { column: "ln_rmssd", type: "float8" } },
};

/** `athlete-ally.sleep.raw-received` → `sleep_data` → `athlete-ally.sleep.normalized-stored`. */
export const sleep: ReadingKindSpec<typeof ReadingKinds.sleep> = {
  contract: ReadingKinds.sleep,
  label: "Sleep",
  table: "sleep_data",
  // Minutes keep their fractions (the column is double precision).
  values: (event) => ({ durationMinutes: event.durationMinutes, qualityScore: event.qualityScore ?? null }),
  columns: {
    durationMinutes: { column: "duration_minutes", type: "float8" },
    qualityScore: { column: "quality_score", type: "float8" },
  },
};

/** Every kind normalize consumes, each on its own durable; a new kind is one entry here (docs/reading-kinds.md). */
export const readingKinds: readonly KindConsumer[] = [kindConsumer(hrv), kindConsumer(sleep)];
