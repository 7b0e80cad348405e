import { createApiKey, listApiKeys, revokeApiKey, stateOf, type ApiKeyRecord } from "@aa/api-keys";
import { compileValidator, UserId } from "@aa/contracts";
import type pg from "pg";
import { describeDatabase, openDatabase, type DatabaseTarget } from "../database.js";
import { apiKeyView, withApiKeyTable } from "../keys/keys.js";
import { shellQuote, table, writeJson, type Writer } from "../output.js";
import {
  CliError,
  usageError,
  type CliExitCode,
  type Command,
  type OfflineCommand,
  type CommandInput,
  type OptionSpec,
} from "./command.js";
import { durationMs } from "../duration.js";
import { DATABASE_OPTIONS, databaseTargetOf } from "./service-options.js";

const validateUserId = compileValidator(UserId);
const TENANT = /^[A-Za-z0-9._:-]{1,128}$/;

const DETAILS = [
  "Keys authenticate ingest's /ingest/* routes ('Authorization: Bearer <key>' or 'X-API-Key: <key>').",
  "They live hashed in the table ingest_api_keys of normalize's database (DATABASE_URL / DATABASE_SCHEMA, or",
  "--database-url / --database-schema). A new key works at once; a revocation takes effect within ingest's",
  "API_KEY_REFRESH_MS (default 10 s). See docs/security.md.",
];

const CREATE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  name: { type: "string", value: "<name>", help: "what the key is for, e.g. garmin-bridge-staging (required)" },
  tenant: {
    type: "string",
    value: "<tenant>",
    help: "the tenant or service holding the key: 1-128 of A-Z a-z 0-9 . _ : - (required)",
  },
  users: {
    type: "string",
    value: "<ids>",
    help: "comma-separated user ids the key may write for (this or --all-users is required)",
  },
  "all-users": { type: "boolean", help: "the key may write for every user (there is no default scope)" },
  "expires-in": { type: "string", value: "<duration>", help: "expire after this (30m, 12h, 90d; default: never)" },
  ...DATABASE_OPTIONS,
};

function requiredText(input: CommandInput, name: string): string {
  const value = input.options[name];
  if (typeof value !== "string" || value.trim() === "") throw usageError(`keys create needs --${name} <${name}>`);
  return value.trim();
}

/** The command line again with a user scope, to paste: database URLs stay out (they may hold a password). */
function createCommandWith(input: CommandInput, name: string, tenant: string, scope: string): string {
  const parts = ["npx aa-ops keys create", "--name", shellQuote(name), "--tenant", shellQuote(tenant)];
  const { options } = input;
  if (typeof options["expires-in"] === "string") parts.push("--expires-in", shellQuote(options["expires-in"]));
  if (typeof options["database-url"] === "string") parts.push("--database-url <url>");
  const schema = options["database-schema"];
  if (typeof schema === "string") parts.push("--database-schema", shellQuote(schema));
  if (input.json) parts.push("--json");
  return `${parts.join(" ")} ${scope}`;
}

/**
 * The user ids the key may write for; undefined for every user. A key for every user must be
 * asked for with --all-users, so that leaving --users out never makes one silently.
 */
function userScopeOf(input: CommandInput, name: string, tenant: string): string[] | undefined {
  const users = input.options.users;
  const all = input.options["all-users"] === true;
  if (users !== undefined && all) throw usageError("keys create takes --users <ids> or --all-users, not both");
  if (all) return undefined;
  if (users === undefined) {
    throw usageError(
      [
        "keys create needs the users the key may write for: --users <id>,<id> to allow only those, " +
          "or --all-users for every user. Run one of:",
        `  ${createCommandWith(input, name, tenant, "--users a,b")}`,
        `  ${createCommandWith(input, name, tenant, "--all-users")}`,
      ].join("\n"),
    );
  }
  const userIds =
    typeof users === "string"
      ? [
          ...new Set(
            users
              .split(",")
              .map((u) => u.trim())
              .filter(Boolean),
          ),
        ]
      : [];
  if (userIds.length === 0) throw usageError("--users needs at least one user id (or --all-users for every user)");
  const bad = userIds.find((u) => !validateUserId(u).ok);
  if (bad !== undefined) {
    throw usageError(
      `--users: ${JSON.stringify(bad)} is not a valid user id (1-128 characters, no control characters)`,
    );
  }
  return userIds;
}

interface CreateRequest {
  name: string;
  tenant: string;
  userIds: string[] | undefined;
  expiresInMs: number | undefined;
}

function createRequestOf(input: CommandInput): CreateRequest {
  const name = requiredText(input, "name");
  if (name.length > 200) throw usageError(`--name must be at most 200 characters, got ${name.length}`);
  const tenant = requiredText(input, "tenant");
  if (!TENANT.test(tenant))
    throw usageError(`--tenant must be 1-128 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(tenant)}`);
  const userIds = userScopeOf(input, name, tenant);
  const expiresIn = input.options["expires-in"];
  const expiresInMs = expiresIn === undefined ? undefined : durationMs(String(expiresIn));
  if (expiresIn !== undefined && expiresInMs === undefined)
    throw usageError(`--expires-in takes a duration such as 30m, 12h or 90d, got ${JSON.stringify(expiresIn)}`);
  return { name, tenant, userIds, expiresInMs };
}

const KEY_ID = /^[0-9a-f]{16}$/;
const CREATE_HINT = "npx aa-ops keys create --name <name> --tenant <tenant> --users <id>,<id> (or --all-users)";

const when = (date: Date | undefined, none: string): string => date?.toISOString() ?? none;

function describeUsers(key: ApiKeyRecord): string {
  return key.userIds === undefined ? "any user" : `users ${key.userIds.join(", ")}`;
}

/** Opens the database for one command and ends it after; library errors keep their one line. */
async function withDatabase<T>(target: DatabaseTarget, action: (db: pg.Pool) => Promise<T>): Promise<T> {
  const db = openDatabase(target);
  try {
    return await withApiKeyTable(db, describeDatabase(target), action);
  } finally {
    await db.end();
  }
}

function writeCreated(out: Writer, token: string, key: ApiKeyRecord, json: boolean): void {
  if (json) return writeJson(out, { ...apiKeyView(key, new Date()), token });
  out(
    `✅ Created API key ${key.keyId} (${key.name}) for tenant ${key.tenant}, ${describeUsers(key)}, ` +
      `expires ${when(key.expiresAt, "never")}`,
  );
  out("");
  out(`   ${token}`);
  out("");
  out("   This is the only time the key is shown: store it in your secret manager now.");
  out(`   Use it as: curl -H "Authorization: Bearer ${token}" …`);
  out(`   Revoke it with: npx aa-ops keys revoke ${key.keyId}`);
}

const createCommand: OfflineCommand = {
  words: ["keys", "create"],
  args: [],
  nats: false,
  summary: "Create an ingest API key (printed once, stored hashed)",
  details: DETAILS,
  options: CREATE_OPTIONS,
  prepare(input) {
    const request = createRequestOf(input);
    const target = databaseTargetOf(input);
    return async (out) => {
      const expiresAt = request.expiresInMs === undefined ? undefined : new Date(Date.now() + request.expiresInMs);
      const { token, key } = await withDatabase(target, (db) =>
        createApiKey(db, { name: request.name, tenant: request.tenant, userIds: request.userIds, expiresAt }),
      );
      writeCreated(out, token, key, input.json);
      return 0;
    };
  },
};

const listCommand: OfflineCommand = {
  words: ["keys", "list"],
  args: [],
  nats: false,
  summary: "List ingest API keys: id, name, tenant, user scope, state (never the keys themselves)",
  details: DETAILS,
  options: DATABASE_OPTIONS,
  prepare(input) {
    const target = databaseTargetOf(input);
    return async (out) => {
      const keys = await withDatabase(target, listApiKeys);
      const now = new Date();
      if (input.json)
        writeJson(
          out,
          keys.map((key) => apiKeyView(key, now)),
        );
      else if (keys.length === 0) out(`No API keys. Create one with: ${CREATE_HINT}`);
      else
        table(
          out,
          ["KEY ID", "NAME", "TENANT", "USERS", "STATE", "CREATED", "EXPIRES", "REVOKED"],
          keys.map((k) => [
            k.keyId,
            k.name,
            k.tenant,
            k.userIds?.join(",") ?? "(any)",
            stateOf(k, now),
            when(k.createdAt, "-"),
            when(k.expiresAt, "never"),
            when(k.revokedAt, "-"),
          ]),
        );
      return 0;
    };
  },
};

const revokeCommand: OfflineCommand = {
  words: ["keys", "revoke"],
  args: ["<key-id>"],
  nats: false,
  summary: "Revoke an ingest API key (kept for the record; refused by ingest within API_KEY_REFRESH_MS)",
  details: DETAILS,
  options: DATABASE_OPTIONS,
  prepare(input) {
    const keyId = (input.args[0] ?? "").trim();
    if (!KEY_ID.test(keyId))
      throw usageError(
        `keys revoke takes a key id (16 hex characters, as keys list shows it), got ${JSON.stringify(keyId)}`,
      );
    const target = databaseTargetOf(input);
    return async (out): Promise<CliExitCode> => {
      const key = await withDatabase(target, (db) => revokeApiKey(db, keyId));
      if (!key) throw new CliError(`no API key ${keyId} in ${describeDatabase(target)} (see: npx aa-ops keys list)`);
      if (input.json) writeJson(out, apiKeyView(key, new Date()));
      else
        out(
          `✅ Revoked API key ${key.keyId} (${key.name}, tenant ${key.tenant}) at ${when(key.revokedAt, "?")}; ` +
            "ingest refuses it within API_KEY_REFRESH_MS (default 10 s)",
        );
      return 0;
    };
  },
};

export const keysCommands: readonly Command[] = [createCommand, listCommand, revokeCommand];
