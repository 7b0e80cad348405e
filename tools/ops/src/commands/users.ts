import { compileValidator, UserId } from "@aa/contracts";
import { topologyNamesFromEnv } from "@aa/event-bus";
import { DEFAULT_REVOKE_URL } from "@aa/oura";
import { userIdHasher } from "@aa/service-kit";
import type pg from "pg";
import { describeDatabase, openDatabase } from "../database.js";
import { eraseUser, type EraseRequest, type Erasure } from "../erase/erase.js";
import { OpsError } from "../errors.js";
import { errorMessage, type Writer } from "../output.js";
import { CliError, usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import { DATABASE_OPTIONS, databaseTargetOf } from "./service-options.js";
import { erasureJson, writeErasure } from "./users-view.js";

const validateUserId = compileValidator(UserId);

function requestOf(input: CommandInput): EraseRequest {
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
    names: topologyNamesFromEnv(input.env),
    hash: hashKey ? userIdHasher(hashKey) : undefined,
    ouraKey: encryption ? Buffer.from(encryption, "base64") : undefined,
    revokeUrl: input.env.OURA_REVOKE_URL?.trim() || DEFAULT_REVOKE_URL,
    skipOuraRevoke: input.options["no-oura-revoke"] === true,
  };
}

async function withDatabase<T>(input: CommandInput, action: (db: pg.Pool) => Promise<T>): Promise<T> {
  const target = databaseTargetOf(input);
  const db = openDatabase(target);
  try {
    return await action(db);
  } catch (error) {
    if (error instanceof OpsError) throw error;
    throw new CliError(`cannot erase in ${describeDatabase(target)}: ${errorMessage(error)}`);
  } finally {
    await db.end();
  }
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
    const request = requestOf(input);
    return async (jsm, out: Writer) => {
      const erasure = await withDatabase(input, (db) => eraseUser(jsm, db, request));
      if (input.json) erasureJson(out, erasure);
      else writeErasure(out, erasure);
      return exitOf(erasure);
    };
  },
};

export const usersCommands: readonly Command[] = [eraseCommand];
