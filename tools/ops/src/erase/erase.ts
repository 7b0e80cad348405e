import type { TopologyNames } from "@aa/event-bus";
import { revokeToken, unseal } from "@aa/oura";
import type { JetStreamManager } from "@nats-io/jetstream";
import type pg from "pg";
import { openAuditLog } from "../dlq/audit.js";
import type { DlqMessage } from "../dlq/entry.js";
import { OpsError, OpsRefusal } from "../errors.js";
import { errorMessage } from "../output.js";
import { eraseRows, footprintOf, type LinkedOura, type UserFootprint } from "./database.js";
import {
  auditRecord,
  tombstoneUntil,
  type EraseAudit,
  type ErasedPerson,
  type Remaining,
  type TableCount,
} from "./plan.js";
import { personalDeadLetters, purgeDeadLetters, remainingIn, retentions, type StreamRetention } from "./streams.js";

/** What `users erase` is asked to do; every field checked before anything is read or changed. */
export interface EraseRequest {
  userId: string;
  /** Erase; false: a dry run that reads and changes nothing. */
  act: boolean;
  names: TopologyNames;
  /** Hashes the user id for the audit line (the services' LOG_HASH_KEY); required to act. */
  hash: ((userId: string) => string) | undefined;
  /** OURA_TOKEN_ENCRYPTION_KEY (base64): decrypts the access token to revoke it. */
  ouraKey: Buffer | undefined;
  revokeUrl: string;
  skipOuraRevoke: boolean;
}

/** What `users erase` found and, with --yes, did. */
export interface Erasure {
  userId: string;
  act: boolean;
  footprint: UserFootprint;
  /** The tombstone's expiry (recorded with --yes; what it would be in a dry run). */
  until: Date;
  dlq: string;
  /** Rows deleted per table (--yes). */
  counts?: TableCount[];
  /** null: no Oura account linked. */
  ouraRevoked?: boolean | null;
  ouraFailure?: string;
  /** The user's dead letters found (and, with --yes, the ones removed). */
  deadLetters?: number;
  purged?: number;
  purgeFailure?: string;
  remaining?: Remaining[];
  audit?: EraseAudit;
}

/** Revokes the linked account's grant at Oura; the reason when it could not be confirmed. */
async function revokeAtOura(settings: EraseRequest, oura: LinkedOura): Promise<string | undefined> {
  if (!settings.ouraKey) return "OURA_TOKEN_ENCRYPTION_KEY is not set";
  try {
    const accessToken = unseal(settings.ouraKey, oura.sealedAccessToken, settings.userId);
    await revokeToken({ baseUrl: settings.revokeUrl }, settings.revokeUrl, accessToken);
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/** Pure: why the erasure must not go ahead (it would delete Oura tokens it cannot revoke), or undefined. */
export function ouraRevocationRefusal(
  request: Pick<EraseRequest, "act" | "skipOuraRevoke" | "ouraKey">,
  footprint: Pick<UserFootprint, "oura">,
): string | undefined {
  if (!request.act || !footprint.oura || request.skipOuraRevoke || request.ouraKey) return undefined;
  return (
    "the user has a linked Oura account: set OURA_TOKEN_ENCRYPTION_KEY (normalize's) so its tokens are revoked at " +
    "Oura before they are deleted, or pass --no-oura-revoke to delete them without revoking"
  );
}

/** The newest message of the person in each hot stream (core, vendor, legacy: whichever exist). */
async function streamsLeft(
  jsm: JetStreamManager,
  hot: readonly StreamRetention[],
  person: ErasedPerson,
): Promise<Remaining[]> {
  const left: Remaining[] = [];
  for (const retention of hot) {
    const newest = await remainingIn(jsm, retention, person);
    if (newest) left.push(newest);
  }
  return left;
}

/** What the dry run found, and what acting on it needs. */
interface Found {
  settings: EraseRequest;
  names: TopologyNames;
  person: ErasedPerson;
  erasure: Erasure;
  letters: DlqMessage[];
  hot: StreamRetention[];
}

/** Reads everything erasure concerns; changes nothing. */
async function find(jsm: JetStreamManager, db: pg.Pool, settings: EraseRequest): Promise<Found> {
  const { names } = settings;
  const footprint = await footprintOf(db, settings.userId);
  const refusal = ouraRevocationRefusal(settings, footprint);
  if (refusal !== undefined) throw new OpsRefusal(refusal, "ERASE_OURA_NOT_REVOCABLE");
  const person: ErasedPerson = { userId: settings.userId, ouraUserId: footprint.oura?.ouraUserId };
  const streams = await retentions(jsm, [names.core, names.vendor, names.legacy, names.dlq]);
  const hot = streams.filter((r) => r.stream !== names.dlq);
  const letters = streams.length > hot.length ? await personalDeadLetters(jsm, names.dlq, person) : [];
  // A reading can wait in any of these streams (the DLQ too, until replayed): the tombstone outlives them all.
  const until = tombstoneUntil(
    new Date(),
    streams.map((r) => r.maxAgeMs),
  );
  const erasure: Erasure = { userId: settings.userId, act: settings.act, footprint, until, dlq: names.dlq };
  return { settings, names, person, erasure: { ...erasure, deadLetters: letters.length }, letters, hot };
}

async function act(jsm: JetStreamManager, db: pg.Pool, found: Found): Promise<Erasure> {
  const { settings, names, erasure } = found;
  const oura = erasure.footprint.oura;
  const ouraFailure = oura && !settings.skipOuraRevoke ? await revokeAtOura(settings, oura) : undefined;
  const counts = await eraseRows(db, settings.userId, erasure.until);
  const dlqAudit = await openAuditLog(jsm, jsm.jetstream(), names.dlq, names.dlqAdvisories);
  const purged = await purgeDeadLetters(jsm, names.dlq, dlqAudit, found.letters);
  const left = await streamsLeft(jsm, found.hot, found.person);
  const ouraRevoked = oura ? ouraFailure === undefined && !settings.skipOuraRevoke : null;
  const removed = purged.filter((p) => p.removed).length;
  if (!settings.hash) throw new OpsError("LOG_HASH_KEY is needed for the audit line", "ERASE_NO_HASH_KEY");
  const audit = auditRecord({
    at: new Date(),
    userHash: settings.hash(settings.userId),
    counts,
    ouraRevoked,
    dlqPurged: removed,
    tombstoneUntil: erasure.until,
    remaining: left,
  });
  const purgeFailure = purged.find((p) => !p.removed)?.error;
  return { ...erasure, counts, ouraRevoked, ouraFailure, purged: removed, purgeFailure, remaining: left, audit };
}

/**
 * Erases a user (or, without `act`, says what erasing would do): Oura's grant revoked first (the token is needed
 * to revoke it), then the rows and the tombstone in one transaction, then the dead letters; then what is left.
 * Throws an OpsRefusal before anything changes when the Oura tokens could not be revoked.
 */
export async function eraseUser(jsm: JetStreamManager, db: pg.Pool, request: EraseRequest): Promise<Erasure> {
  const found = await find(jsm, db, request);
  if (found.settings.act) return act(jsm, db, found);
  return { ...found.erasure, remaining: await streamsLeft(jsm, found.hot, found.person) };
}
