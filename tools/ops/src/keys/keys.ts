import { stateOf, type ApiKeyRecord, type ApiKeyState } from "@aa/api-keys";
import type pg from "pg";
import { OpsError } from "../errors.js";
import { errorMessage } from "../output.js";

/** An API key as `keys list --json` shows it: never the key itself, nor its hash. */
export interface ApiKeyView {
  keyId: string;
  name: string;
  tenant: string;
  /** null: the key may write for every user. */
  userIds: readonly string[] | null;
  state: ApiKeyState;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export function apiKeyView(key: ApiKeyRecord, now: Date): ApiKeyView {
  return {
    keyId: key.keyId,
    name: key.name,
    tenant: key.tenant,
    userIds: key.userIds ?? null,
    state: stateOf(key, now),
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/**
 * Runs an action on ingest_api_keys in `db` (named `label` in messages, without its password): a missing table
 * says which migration is missing, any other failure names the database; both as a one-line OpsError.
 */
export async function withApiKeyTable<T>(db: pg.Pool, label: string, action: (db: pg.Pool) => Promise<T>): Promise<T> {
  try {
    return await action(db);
  } catch (error) {
    if ((error as { code?: string }).code === "42P01")
      throw new OpsError(
        `ingest_api_keys does not exist in ${label}: apply the migrations first ` +
          "(npm run db:migrate, with the same DATABASE_URL / DATABASE_SCHEMA)",
        "NO_API_KEY_TABLE",
        { cause: error },
      );
    throw new OpsError(`cannot use ingest_api_keys in ${label}: ${errorMessage(error)}`, "API_KEY_TABLE", {
      cause: error,
    });
  }
}
