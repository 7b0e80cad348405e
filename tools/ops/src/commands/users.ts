import { compileValidator, UserId } from "@aa/contracts";
import { topologyNamesFromEnv, type TopologyNames } from "@aa/event-bus";
import { DEFAULT_REVOKE_URL, revokeToken, unseal } from "@aa/oura";
import { userIdHasher } from "@aa/service-kit";
import type { JetStreamManager } from "@nats-io/jetstream";
import type pg from "pg";
import { openAuditLog } from "../dlq/audit.js";
import type { DlqMessage } from "../dlq/entry.js";
import { eraseRows, footprintOf, type LinkedOura, type UserFootprint } from "../erase/database.js";
import { auditRecord, tombstoneUntil, type ErasedPerson, type Remaining } from "../erase/plan.js";
import {
  personalDeadLetters,
  purgeDeadLetters,
  remainingIn,
  retentions,
  type StreamRetention,
} from "../erase/streams.js";
import { errorMessage, type Writer } from "../output.js";
import { CliError, usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import { DATABASE_OPTIONS, databaseTargetOf, describeDatabase, openDatabase } from "./service-options.js";
import { erasureJson, writeErasure, type Erasure } from "./users-view.js";

const validateUserId = compileValidator(UserId);

/** What erasure needs besides the command line, checked before anything is read or changed. */
interface EraseSettings {
  userId: string;
  act: boolean;
  /** Hashes the user id for the audit line (LOG_HASH_KEY, as the services' logs). */
  hash: ((userId: string) => string) | undefined;
  /** OURA_TOKEN_ENCRYPTION_KEY (base64): decrypts the access token to revoke it. */
  ouraKey: Buffer | undefined;
  revokeUrl: string;
  skipOuraRevoke: boolean;
}

function settingsOf(input: CommandInput): EraseSettings {
  const userId = input.options.user;
  if (typeof userId !== "string" || !validateUserId(userId).ok)
    throw usageError("users erase needs --user <id> (1-128 characters, no control characters)");
  const act = input.options.yes === true;
  const hashKey = input.env.LOG_HASH_KEY?.trim();
  if (act && (hashKey === undefined || hashKey.length < 32))
    throw usageError(
      "users erase --yes needs LOG_HASH_KEY (the services' key, at least 32 characters): " +
        "the audit line names the user only by its keyed hash",
    );
  const encryption = input.env.OURA_TOKEN_ENCRYPTION_KEY?.trim();
  return {
    userId,
    act,
    hash: hashKey ? userIdHasher(hashKey) : undefined,
    ouraKey: encryption ? Buffer.from(encryption, "base64") : undefined,
    revokeUrl: input.env.OURA_REVOKE_URL?.trim() || DEFAULT_REVOKE_URL,
    skipOuraRevoke: input.options["no-oura-revoke"] === true,
  };
}

/** Revokes the linked account's grant at Oura; the reason when it could not be confirmed. */
async function revokeAtOura(settings: EraseSettings, oura: LinkedOura): Promise<string | undefined> {
  if (!settings.ouraKey) return "OURA_TOKEN_ENCRYPTION_KEY is not set";
  try {
    const accessToken = unseal(settings.ouraKey, oura.sealedAccessToken, settings.userId);
    await revokeToken({ baseUrl: settings.revokeUrl }, settings.revokeUrl, accessToken);
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/** Refuses, before anything changes, an erasure that would delete Oura tokens it cannot revoke. */
function checkOuraRevocable(settings: EraseSettings, footprint: UserFootprint): void {
  if (!settings.act || !footprint.oura || settings.skipOuraRevoke || settings.ouraKey) return;
  throw usageError(
    "the user has a linked Oura account: set OURA_TOKEN_ENCRYPTION_KEY (normalize's) so its tokens are revoked at " +
      "Oura before they are deleted, or pass --no-oura-revoke to delete them without revoking",
  );
}

async function withDatabase<T>(input: CommandInput, action: (db: pg.Pool) => Promise<T>): Promise<T> {
  const target = databaseTargetOf(input);
  const db = openDatabase(target);
  try {
    return await action(db);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot erase in ${describeDatabase(target)}: ${errorMessage(error)}`);
  } finally {
    await db.end();
  }
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
  settings: EraseSettings;
  names: TopologyNames;
  person: ErasedPerson;
  erasure: Erasure;
  letters: DlqMessage[];
  hot: StreamRetention[];
}

/** Reads everything erasure concerns; changes nothing. */
async function find(jsm: JetStreamManager, input: CommandInput, db: pg.Pool): Promise<Found> {
  const settings = settingsOf(input);
  const names = topologyNamesFromEnv(input.env);
  const footprint = await footprintOf(db, settings.userId);
  checkOuraRevocable(settings, footprint);
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

/** Oura first (the token is needed to revoke), then the rows and tombstone, then the DLQ; then what is left. */
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
  if (!settings.hash) throw new CliError("LOG_HASH_KEY is needed for the audit line");
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

async function erase(jsm: JetStreamManager, input: CommandInput, db: pg.Pool): Promise<Erasure> {
  const found = await find(jsm, input, db);
  if (found.settings.act) return act(jsm, db, found);
  return { ...found.erasure, remaining: await streamsLeft(jsm, found.hot, found.person) };
}

const exitOf = (erasure: Erasure): CliExitCode =>
  erasure.act && (erasure.ouraFailure !== undefined || erasure.purgeFailure !== undefined) ? 1 : 0;

const eraseCommand: Command = {
  words: ["users", "erase"],
  args: [],
  summary: "Erase a user's data: rows, Oura link and tokens, dead letters (dry run unless --yes)",
  details: [
    "Deletes the user's rows in every table keyed by user (hrv_data, sleep_data, oura_accounts,",
    "oura_link_states, oura_link_tokens_used, oura_link_pending), revokes the linked Oura account's grant at",
    "Oura (OURA_TOKEN_ENCRYPTION_KEY, as normalize's; OURA_REVOKE_URL, default",
    "https://api.ouraring.com/oauth/revoke), purges the user's entries from the DLQ and records a tombstone in",
    "erased_users: readings of the user still in a stream are not stored again until it expires (the longest",
    "stream retention plus an hour). Says what it cannot erase: messages still in a stream (with the time they",
    "age out) and API keys whose user scope names the user. With --yes it prints one audit line naming the",
    "user only by its HMAC under LOG_HASH_KEY (required).",
    "Runs as athlete_ops (docs/security.md).",
  ],
  options: {
    user: { type: "string", value: "<id>", help: "the user id to erase (required)" },
    yes: { type: "boolean", help: "erase (without it: a dry run that reads and changes nothing)" },
    "no-oura-revoke": {
      type: "boolean",
      help: "delete a linked account's Oura tokens without revoking them at Oura",
    },
    ...DATABASE_OPTIONS,
  },
  prepare(input) {
    settingsOf(input);
    return async (jsm, out: Writer) => {
      const erasure = await withDatabase(input, (db) => erase(jsm, input, db));
      if (input.json) erasureJson(out, erasure);
      else writeErasure(out, erasure);
      return exitOf(erasure);
    };
  },
};

export const usersCommands: readonly Command[] = [eraseCommand];
