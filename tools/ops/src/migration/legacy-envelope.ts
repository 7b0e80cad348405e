import { Subjects } from "@aa/contracts";

/**
 * Subjects whose 1.0 schema is the raw-received event without `source`, with no unknown fields
 * allowed: the 1.0 normalize dead-letters an event that carries `source` as schema-invalid.
 */
const SCOPED_SUBJECTS: ReadonlySet<string> = new Set([
  Subjects.hrvRawReceived.subject,
  Subjects.sleepRawReceived.subject,
]);

/** What a message becomes on its way back to the legacy stream, for the 1.0 normalize. */
export interface LegacyCopy {
  data: Uint8Array;
  /** True when `source` was dropped: 1.0 stores the reading as "unscoped" (docs/event-identity.md). */
  downConverted: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function parsedObject(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pure: the 1.0 envelope of a hot-stream message. Raw-received readings lose `source` (and
 * nothing else: `eventId` stays, so the row keeps the client's id); every other subject, and a
 * payload that is not a JSON object, goes unchanged (1.0 judges it as the new normalize would).
 */
export function toLegacyEnvelope(subject: string, data: Uint8Array): LegacyCopy {
  if (!SCOPED_SUBJECTS.has(subject)) return { data, downConverted: false };
  const event = parsedObject(data);
  if (event === undefined || !("source" in event)) return { data, downConverted: false };
  const { source: _dropped, ...legacy } = event;
  return { data: encoder.encode(JSON.stringify(legacy)), downConverted: true };
}

/**
 * The `Nats-Msg-Id` of the copy: the original's, so a copy made twice inside the legacy stream's
 * duplicate window is stored once. A message published without one gets an id made of where it
 * is stored, which is as stable across re-runs.
 */
export function legacyMsgId(original: string | undefined, stream: string, seq: number): string {
  const id = original?.trim();
  return id !== undefined && id !== "" ? id : `aa-ops-forward:${stream}:${seq}`;
}
