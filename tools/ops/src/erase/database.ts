import type pg from "pg";
import { userSha256, type TableCount } from "./plan.js";

/**
 * Every table that holds rows keyed by a user id, in the order they are erased. `ingest_api_keys` is not here: a key's
 * user scope is part of a credential another party holds; erasure reports such keys instead of rewriting them.
 */
export const USER_TABLES = [
  "hrv_data",
  "sleep_data",
  "oura_accounts",
  "oura_link_states",
  "oura_link_tokens_used",
  "oura_link_pending",
] as const;

/** The linked Oura account: its Oura user id and the sealed access token (decrypted only to revoke it). */
export interface LinkedOura {
  ouraUserId: string;
  sealedAccessToken: Buffer;
}

/** What the database holds about a user before erasure. */
export interface UserFootprint {
  counts: TableCount[];
  oura: LinkedOura | undefined;
  /** API keys whose user scope names the user (key ids). */
  scopedKeys: string[];
  /** A tombstone already there (an earlier erasure): until when. */
  tombstoneUntil: Date | undefined;
}

async function countRows(db: pg.Pool, userId: string): Promise<TableCount[]> {
  const counts: TableCount[] = [];
  for (const table of USER_TABLES) {
    const result = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE user_id = $1`, [
      userId,
    ]);
    counts.push({ table, rows: result.rows[0]?.n ?? 0 });
  }
  return counts;
}

/** Reads, changes nothing: what `users erase` would erase, and what it would have to leave. */
export async function footprintOf(db: pg.Pool, userId: string): Promise<UserFootprint> {
  const oura = await db.query<{ oura_user_id: string; access_token: Buffer }>(
    "SELECT oura_user_id, access_token FROM oura_accounts WHERE user_id = $1",
    [userId],
  );
  const keys = await db.query<{ key_id: string }>(
    "SELECT key_id FROM ingest_api_keys WHERE $1 = ANY (user_ids) ORDER BY key_id",
    [userId],
  );
  const tombstone = await db.query<{ expires_at: Date }>("SELECT expires_at FROM erased_users WHERE user_sha256 = $1", [
    userSha256(userId),
  ]);
  const row = oura.rows[0];
  return {
    counts: await countRows(db, userId),
    oura: row && { ouraUserId: row.oura_user_id, sealedAccessToken: row.access_token },
    scopedKeys: keys.rows.map((k) => k.key_id),
    tombstoneUntil: tombstone.rows[0]?.expires_at,
  };
}

/**
 * In one transaction: records the tombstone (kept until `until`, never shortened), drops expired ones, and deletes the
 * user's rows in every user table. The reading tables are locked against writes first, so a write of normalize
 * already under way finishes before the delete (and is deleted with the rest), and every write after the commit
 * sees the tombstone. Resolves with the rows deleted per table.
 */
export async function eraseRows(db: pg.Pool, userId: string, until: Date): Promise<TableCount[]> {
  const client = await db.connect();
  try {
    await client.query("BEGIN");
    await client.query("LOCK TABLE hrv_data, sleep_data IN SHARE ROW EXCLUSIVE MODE");
    await client.query(
      `INSERT INTO erased_users (user_sha256, expires_at) VALUES ($1, $2)
       ON CONFLICT (user_sha256) DO UPDATE
       SET erased_at = now(), expires_at = GREATEST(erased_users.expires_at, EXCLUDED.expires_at)`,
      [userSha256(userId), until],
    );
    await client.query("DELETE FROM erased_users WHERE expires_at < now()");
    const counts: TableCount[] = [];
    for (const table of USER_TABLES) {
      const deleted = await client.query(`DELETE FROM ${table} WHERE user_id = $1`, [userId]);
      counts.push({ table, rows: deleted.rowCount ?? 0 });
    }
    await client.query("COMMIT");
    return counts;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
