import type pg from "pg";
import { generateApiKey } from "./key-format.js";

/** One row of `ingest_api_keys` (migration 0004), without the secret's hash. */
export interface ApiKeyRecord {
  keyId: string;
  name: string;
  /** Who holds the key: a tenant or a service. */
  tenant: string;
  /** The only user ids the key may write for; undefined: any user. */
  userIds: readonly string[] | undefined;
  createdAt: Date;
  expiresAt: Date | undefined;
  revokedAt: Date | undefined;
}

/** A record with the stored SHA-256 of its secret, as authentication needs it. */
export interface StoredApiKey extends ApiKeyRecord {
  secretSha256: Buffer;
}

export type ApiKeyState = "active" | "expired" | "revoked";

export function stateOf(key: ApiKeyRecord, now: Date): ApiKeyState {
  if (key.revokedAt !== undefined) return "revoked";
  if (key.expiresAt !== undefined && key.expiresAt.getTime() <= now.getTime()) return "expired";
  return "active";
}

interface Row {
  key_id: string;
  secret_sha256: Buffer;
  name: string;
  tenant: string;
  user_ids: string[] | null;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = "key_id, secret_sha256, name, tenant, user_ids, created_at, expires_at, revoked_at";

const toStored = (row: Row): StoredApiKey => ({
  keyId: row.key_id,
  secretSha256: row.secret_sha256,
  name: row.name,
  tenant: row.tenant,
  userIds: row.user_ids ?? undefined,
  createdAt: row.created_at,
  expiresAt: row.expires_at ?? undefined,
  revokedAt: row.revoked_at ?? undefined,
});

const withoutSecret = ({ secretSha256: _hash, ...record }: StoredApiKey): ApiKeyRecord => record;

type Queryable = Pick<pg.Pool, "query">;

export interface CreateApiKey {
  name: string;
  tenant: string;
  userIds?: readonly string[];
  expiresAt?: Date;
}

/** Stores a new key and returns it with its token, the only time the token exists. */
export async function createApiKey(db: Queryable, input: CreateApiKey): Promise<{ token: string; key: ApiKeyRecord }> {
  const generated = generateApiKey();
  const { rows } = await db.query<Row>(
    `INSERT INTO ingest_api_keys (key_id, secret_sha256, name, tenant, user_ids, expires_at) ` +
      `VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
    [generated.keyId, generated.secretSha256, input.name, input.tenant, input.userIds ?? null, input.expiresAt ?? null],
  );
  return { token: generated.token, key: withoutSecret(toStored(rows[0] as Row)) };
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM ingest_api_keys ORDER BY created_at, key_id`);
  return rows.map((row) => withoutSecret(toStored(row)));
}

/** Revokes a key (kept for the record); undefined when no key has this id. Revoking twice keeps the first time. */
export async function revokeApiKey(db: Queryable, keyId: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await db.query<Row>(
    `UPDATE ingest_api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_id = $1 RETURNING ${COLUMNS}`,
    [keyId],
  );
  return rows[0] === undefined ? undefined : withoutSecret(toStored(rows[0]));
}

/** Every key with its hash: ingest keeps them in memory and reloads them periodically. */
export async function loadApiKeys(db: Queryable): Promise<StoredApiKey[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM ingest_api_keys`);
  return rows.map(toStored);
}

export async function findApiKey(db: Queryable, keyId: string): Promise<StoredApiKey | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM ingest_api_keys WHERE key_id = $1`, [keyId]);
  return rows[0] === undefined ? undefined : toStored(rows[0]);
}
