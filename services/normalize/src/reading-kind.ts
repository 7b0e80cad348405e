import {
  EventSources,
  type AnyReadingKind,
  type NormalizedStoredOf,
  type RawReceivedEnvelope,
  type RawReceivedOf,
  type ReadingKind,
  type StoredValuesOf,
} from "@aa/contracts";
import type { DurableConsumer } from "@aa/event-bus";
import { readingConsumer, type ConsumerDeps, type ReadingFlow } from "./reading-flow.js";
import { readingStore, type TableReading } from "./store.js";
import { tracedWrites } from "./tracing.js";

/** A reading kind's contract whose kind normalize knows (`ReadingKinds` in @aa/contracts). */
type KindContract = AnyReadingKind & { kind: ReadingKind };

/** The kind's values as its row holds them: those the contract stores, an optional one `null` (a nullable column). */
export type RowValues<C extends KindContract> = {
  [P in keyof StoredValuesOf<C>]-?: undefined extends StoredValuesOf<C>[P]
    ? Exclude<StoredValuesOf<C>[P], undefined> | null
    : StoredValuesOf<C>[P];
};

/** The row normalize stores for one reading of kind `C`. Timestamps are ISO-8601 UTC (`toISOString`). */
export type ReadingRow<C extends KindContract> = TableReading & RowValues<C>;

/** One kind of reading as normalize stores it: a short declaration in `reading-kinds.ts`. */
export interface ReadingKindSpec<C extends KindContract> {
  /** The kind's contract: subjects, envelope and announcement schemas. */
  contract: C;
  /** `HRV`, `Sleep`: the runbook's log lines. The kind's name in capitals, so lower-cased it names the metrics. */
  label: Uppercase<C["kind"]> | Capitalize<C["kind"]>;
  /** The table, one row per (user_id, date) with the columns every reading table has (a migration creates it). */
  table: string;
  /** Pure: the kind's values of the row (the contract's stored values), from the event. */
  values: (event: RawReceivedOf<C>) => RowValues<C>;
  /** Each value's column and its SQL type (the array element type `unnest` takes), in the table's column order. */
  columns: { [P in keyof RowValues<C>]-?: { column: string; type: string } };
}

/**
 * Pure: the row of an event. capturedAt falls back to when ingest received the reading (it orders replays of one
 * source); an event from before scoped identity has no source and counts as `unscoped`.
 */
export function toRow<C extends KindContract>(
  spec: ReadingKindSpec<C>,
  event: RawReceivedOf<C> & RawReceivedEnvelope,
): ReadingRow<C> {
  return {
    userId: event.userId,
    date: event.date,
    ...spec.values(event),
    capturedAt: new Date(event.capturedAt ?? event.receivedAt).toISOString(),
    receivedAt: new Date(event.receivedAt).toISOString(),
    eventId: event.eventId,
    source: event.source ?? EventSources.unscoped,
    raw: event.raw ?? null,
  };
}

/** Pure: the `<kind>.normalized-stored` announcement of a stored row; a `null` value is left out (optional there). */
export function toStored<C extends KindContract>(
  spec: ReadingKindSpec<C>,
  row: ReadingRow<C>,
  storedAt: string,
): NormalizedStoredOf<C> {
  const values = Object.keys(spec.columns).flatMap((key) => {
    const value = (row as Record<string, unknown>)[key];
    return value === null ? [] : [[key, value] as const];
  });
  const { eventId, userId, date, capturedAt } = row;
  return { eventId, userId, date, ...Object.fromEntries(values), capturedAt, storedAt } as NormalizedStoredOf<C>;
}

/** The kind's flow: its subjects and validators from the contract, its pure mapping, its table's guarded writes. */
export function readingFlow<C extends KindContract>(
  spec: ReadingKindSpec<C>,
): ReadingFlow<RawReceivedOf<C>, ReadingRow<C>, NormalizedStoredOf<C>> {
  const keys = Object.keys(spec.columns) as (keyof RowValues<C>)[];
  const store = readingStore<ReadingRow<C>>({
    name: spec.table,
    columns: keys.map((key) => ({ name: spec.columns[key].column, type: spec.columns[key].type })),
    values: (row) => keys.map((key) => row[key]),
  });
  const { write, writeBatch } = tracedWrites(spec.table, store);
  const { contract } = spec;
  return {
    kind: contract.kind,
    label: spec.label,
    rawSubject: contract.subjects.rawReceived.subject,
    storedSubject: contract.subjects.normalizedStored.subject,
    validateRaw: contract.validateRawReceived,
    // Every kind's raw-received event has the envelope's fields: `readingKind` builds them all alike.
    toRow: (event) => toRow(spec, event as RawReceivedOf<C> & RawReceivedEnvelope),
    write,
    writeBatch,
    toStored: (row, storedAt) => toStored(spec, row, storedAt),
    validateStored: contract.validateNormalizedStored,
  };
}

/** A kind as main starts it: its label and its durable; the kind's own types stay inside. */
export interface KindConsumer {
  label: string;
  consumer: (deps: ConsumerDeps) => DurableConsumer<unknown>;
}

export function kindConsumer<C extends KindContract>(spec: ReadingKindSpec<C>): KindConsumer {
  const flow = readingFlow(spec);
  return { label: spec.label, consumer: (deps) => readingConsumer(flow, deps) };
}
