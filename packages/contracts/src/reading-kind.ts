import { Type, type Static, type TObject, type TProperties } from "@sinclair/typebox";
import {
  CAPTURED_AT_MAX_SKEW_MS,
  CalendarDate,
  EventId,
  EventSource,
  RawDocument,
  Timestamp,
  UserId,
  withDateRules,
} from "./common.js";
import { compileValidator, type Validation } from "./validation.js";

/** What every reading starts with: whose it is and which day it describes. */
const ReadingHead = { userId: UserId, date: CalendarDate };

/** What a client's reading may add after its values. */
const ClientTail = {
  capturedAt: Type.Optional(Timestamp),
  eventId: Type.Optional(EventId),
  raw: Type.Optional(RawDocument),
};

/** What ingest adds when it accepts a reading: the `<kind>.raw-received` envelope's tail. */
const EnvelopeTail = {
  capturedAt: Type.Optional(Timestamp),
  eventId: EventId,
  raw: Type.Optional(RawDocument),
  /** When ingest accepted the reading; orders replays when `capturedAt` is absent. */
  receivedAt: Timestamp,
  /**
   * Who sent it (see `EventSource`); with kind, user and eventId it is the reading's identity.
   * Absent only in events published before scoped identity: normalize reads that as `unscoped`.
   */
  source: Type.Optional(EventSource),
};

/** The `<kind>.normalized-stored` announcement's head and tail around the stored values. */
const StoredHead = { eventId: EventId, ...ReadingHead };
const StoredTail = { capturedAt: Timestamp, storedAt: Timestamp };

export type ReadingProperties<V extends TProperties> = typeof ReadingHead & V & typeof ClientTail;
export type RawReceivedProperties<V extends TProperties> = typeof ReadingHead & V & typeof EnvelopeTail;
export type NormalizedStoredProperties<S extends TProperties> = typeof StoredHead & S & typeof StoredTail;

/** A subject of the catalogue with its bounded metric label. */
export interface SubjectEntry<S extends string, T extends string> {
  subject: S;
  topic: T;
}

/** Everything the pipeline knows of one kind of reading, all derived from its values' schema. */
export interface ReadingKindContract<K extends string, V extends TProperties, S extends TProperties> {
  /** Part of each reading's identity (`readingKey`), the path segment of `POST /ingest/<kind>`, the subjects' token. */
  kind: K;
  subjects: {
    /** `athlete-ally.<kind>.raw-received`: what ingest publishes and normalize's durable consumes. */
    rawReceived: SubjectEntry<`athlete-ally.${K}.raw-received`, `${K}_raw_received`>;
    /** `athlete-ally.<kind>.normalized-stored`: announced once normalize committed the row. */
    normalizedStored: SubjectEntry<`athlete-ally.${K}.normalized-stored`, `${K}_normalized_stored`>;
  };
  /** The values normalize stores and announces (the reading's and those it derives), as schema properties. */
  storedValues: S;
  /** The body of `POST /ingest/<kind>`. */
  readingSchema: TObject<ReadingProperties<V>>;
  /** The reading as ingest published it, with its stable id, receive time and source. */
  rawReceivedSchema: TObject<RawReceivedProperties<V>>;
  normalizedStoredSchema: TObject<NormalizedStoredProperties<S>>;
  /** A client's reading: the schema and the date rules, `capturedAt` at most `CAPTURED_AT_MAX_SKEW_MS` ahead. */
  validateReading: (value: unknown, now?: Date) => Validation<Static<TObject<ReadingProperties<V>>>>;
  /** An event already in a stream: the schema and the date rules with a day's slack, as a previous release accepted. */
  validateRawReceived: (value: unknown, now?: Date) => Validation<Static<TObject<RawReceivedProperties<V>>>>;
  validateNormalizedStored: (value: unknown) => Validation<Static<TObject<NormalizedStoredProperties<S>>>>;
}

/** Any kind's contract, for code generic over kinds. */
export type AnyReadingKind = ReadingKindContract<string, TProperties, TProperties>;
/** The fields every `<kind>.raw-received` event has, whatever its kind. */
export type RawReceivedEnvelope = Static<TObject<RawReceivedProperties<Record<never, never>>>>;
/** The `<kind>.raw-received` event of a kind. */
export type RawReceivedOf<C extends AnyReadingKind> = Static<C["rawReceivedSchema"]>;
/** The `<kind>.normalized-stored` announcement of a kind. */
export type NormalizedStoredOf<C extends AnyReadingKind> = Static<C["normalizedStoredSchema"]>;
/** The values of a kind that normalize stores and announces. */
export type StoredValuesOf<C extends AnyReadingKind> = Static<TObject<C["storedValues"]>>;

type DatedValidator = (value: unknown) => Validation<{ date: string; capturedAt?: string }>;

/** A closed object schema; the kind's precise types are restored by `readingKind`'s return type. */
const closed = (properties: TProperties): TObject => Type.Object(properties, { additionalProperties: false });
const dated = (schema: TObject) => compileValidator(schema) as DatedValidator;

/**
 * A kind of reading from its values' schema (what the client sends besides userId, date, capturedAt, eventId and raw)
 * and, when normalize derives more, the values it stores (default: the same). The three schemas, their validators
 * with the date rules, and the subjects are built here for every kind alike. `kind` is lower-case letters and digits:
 * it becomes a subject token, a metric label and a catalogue key.
 */
export function readingKind<K extends string, V extends TProperties, S extends TProperties = V>(
  kind: K,
  spec: { values: V; stored?: S },
): ReadingKindContract<K, V, S> {
  if (!/^[a-z][a-z0-9]*$/.test(kind)) throw new Error(`a reading kind is lower-case letters and digits, got "${kind}"`);
  const storedValues: TProperties = spec.stored ?? spec.values;
  const readingSchema = closed({ ...ReadingHead, ...spec.values, ...ClientTail });
  const rawReceivedSchema = closed({ ...ReadingHead, ...spec.values, ...EnvelopeTail });
  const normalizedStoredSchema = closed({ ...StoredHead, ...storedValues, ...StoredTail });
  return {
    kind,
    subjects: {
      rawReceived: { subject: `athlete-ally.${kind}.raw-received`, topic: `${kind}_raw_received` },
      normalizedStored: { subject: `athlete-ally.${kind}.normalized-stored`, topic: `${kind}_normalized_stored` },
    },
    storedValues,
    readingSchema,
    rawReceivedSchema,
    normalizedStoredSchema,
    validateReading: withDateRules(dated(readingSchema), { capturedAtAheadMs: CAPTURED_AT_MAX_SKEW_MS }),
    validateRawReceived: withDateRules(dated(rawReceivedSchema)),
    validateNormalizedStored: compileValidator(normalizedStoredSchema),
  } as ReadingKindContract<K, V, S>;
}
