import { createHash } from "node:crypto";

/** Who is erased: our user id and, when an Oura account is linked, its Oura user id (all Oura's webhooks carry). */
export interface ErasedPerson {
  userId: string;
  ouraUserId?: string;
}

const utf8 = new TextDecoder();

/**
 * Does a message payload belong to the person? Reading events and announcements carry `userId`; Oura's webhook
 * documents carry the Oura `user_id`. Anything that is not a JSON object belongs to nobody.
 */
export function payloadBelongsTo(data: Uint8Array, person: ErasedPerson): boolean {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(data));
  } catch {
    return false;
  }
  if (value === null || typeof value !== "object") return false;
  const fields = value as Record<string, unknown>;
  if (fields.userId === person.userId) return true;
  return person.ouraUserId !== undefined && fields.user_id === person.ouraUserId;
}

/** What the erased_users tombstone stores: the user id's SHA-256 (hex), as normalize's guarded write computes it. */
export const userSha256 = (userId: string): string => createHash("sha256").update(userId, "utf8").digest("hex");

/** Beyond the longest retention: a message pending redelivery when it was stored last is still covered. */
export const TOMBSTONE_MARGIN_MS = 3_600_000;

/**
 * Until when readings of the erased user are refused: the longest retention of the streams a reading can wait
 * in (or be replayed from), plus a margin, from now. No message that predates the erasure outlives it.
 */
export function tombstoneUntil(now: Date, maxAgesMs: readonly number[]): Date {
  const longest = Math.max(0, ...maxAgesMs);
  return new Date(now.getTime() + longest + TOMBSTONE_MARGIN_MS);
}

/** A stream that still holds the person's messages: erasure cannot remove them, they age out. */
export interface Remaining {
  stream: string;
  /** When the newest matching message was stored. */
  newest: Date;
  /** The stream's max_age in ms; 0 is "no age limit". */
  maxAgeMs: number;
  /** When the last of them is gone; undefined when the stream keeps messages without an age limit. */
  agesOutAt: Date | undefined;
}

export function remaining(stream: string, newest: Date, maxAgeMs: number): Remaining {
  const agesOutAt = maxAgeMs > 0 ? new Date(newest.getTime() + maxAgeMs) : undefined;
  return { stream, newest, maxAgeMs, agesOutAt };
}

/** Rows of one table erased (or, in a dry run, that would be). */
export interface TableCount {
  table: string;
  rows: number;
}

/** What the audit line says about one erasure: never the user id, only its keyed hash. */
export interface EraseAudit {
  action: "users.erase";
  at: string;
  /** HMAC-SHA256 of the user id under LOG_HASH_KEY, shortened as in the services' logs. */
  user: string;
  rows: Record<string, number>;
  ouraRevoked: boolean | null;
  dlqPurged: number;
  tombstoneUntil: string;
  remaining: { stream: string; agesOutAt: string | null }[];
}

export interface EraseFacts {
  at: Date;
  userHash: string;
  counts: readonly TableCount[];
  /** null: no Oura account was linked. */
  ouraRevoked: boolean | null;
  dlqPurged: number;
  tombstoneUntil: Date;
  remaining: readonly Remaining[];
}

/** The audit record of an erasure, in the fields' stable order. */
export function auditRecord(facts: EraseFacts): EraseAudit {
  return {
    action: "users.erase",
    at: facts.at.toISOString(),
    user: facts.userHash,
    rows: Object.fromEntries(facts.counts.map((c) => [c.table, c.rows])),
    ouraRevoked: facts.ouraRevoked,
    dlqPurged: facts.dlqPurged,
    tombstoneUntil: facts.tombstoneUntil.toISOString(),
    remaining: facts.remaining.map((r) => ({ stream: r.stream, agesOutAt: r.agesOutAt?.toISOString() ?? null })),
  };
}
