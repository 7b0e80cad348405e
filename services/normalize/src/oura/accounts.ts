import { createHash } from "node:crypto";
import { OuraApiError, seal, unseal, type OuraTokens } from "@aa/oura";
import type pg from "pg";
import { classifyDbError } from "../db.js";

/** A linked Oura account with its tokens decrypted (in memory only). */
export interface OuraAccount {
  userId: string;
  ouraUserId: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
}

/** A link attempt the callback may complete once. */
export interface LinkState {
  userId: string;
  codeVerifier: string;
  /** SHA-256 (hex) of the browser-binding cookie of the browser that started the link. */
  browserHash: string;
}

/** The link token that authorized a link: its `jti`, remembered until the verifier would no longer accept it. */
export interface LinkTokenUse {
  tokenId: string;
  /**
   * Stored as the row's `expires_at`: the token's last accepted instant (`exp` plus the verifier's clock tolerance).
   * Dropping the row at `exp` would let the token start a second link in the tolerance that follows.
   */
  keepUntil: Date;
}

/** A link whose tokens are exchanged, waiting for the app to confirm its user. */
export interface HeldLink {
  userId: string;
  ouraUserId: string;
  tokens: OuraTokens;
}

/** What confirming a held link found: the token already used, no such (live) link, or the link (now deleted). */
export type HeldLinkTake = { kind: "token-used" } | { kind: "unknown" } | { kind: "held"; link: HeldLink };

/** The Oura account is already linked to another of our users. */
export class OuraAccountTakenError extends Error {
  constructor() {
    super("this Oura account is already linked to another user");
    this.name = "OuraAccountTakenError";
  }
}

/** Our user is already linked to a different Oura account: a link never replaces it silently. */
export class UserLinkedElsewhereError extends Error {
  constructor() {
    super("this user is already linked to a different Oura account; it must be unlinked before another one is linked");
    this.name = "UserLinkedElsewhereError";
  }
}

interface AccountRow {
  user_id: string;
  oura_user_id: string;
  access_token: Buffer;
  refresh_token: Buffer;
  expires_at: Date;
}

interface HeldRow {
  spent: number;
  user_id: string | null;
  oura_user_id: string;
  access_token: Buffer;
  refresh_token: Buffer;
  token_expires_at: Date;
  scope: string | null;
  live: boolean;
}

const hashState = (state: string): string => createHash("sha256").update(state, "utf8").digest("hex");
const ACCOUNT_COLUMNS = "user_id, oura_user_id, access_token, refresh_token, expires_at";

/**
 * `oura_link_states`, `oura_link_pending` and `oura_accounts`: every secret sealed with the key, bound to its row's
 * user id.
 */
export class OuraAccountStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly key: Buffer,
  ) {}

  /**
   * Spends the link token (its `jti`) and stores a new single-use state (by its hash), in one
   * statement: false, and nothing stored, when the token was already used. Drops expired rows.
   */
  async startLink(state: string, link: LinkState, ttlMs: number, token: LinkTokenUse): Promise<boolean> {
    await this.pool.query("DELETE FROM oura_link_states WHERE expires_at < now()");
    await this.pool.query("DELETE FROM oura_link_tokens_used WHERE expires_at < now()");
    const sql = `
WITH spent AS (
  INSERT INTO oura_link_tokens_used (token_id, user_id, expires_at) VALUES ($5, $2, $6)
  ON CONFLICT (token_id) DO NOTHING RETURNING token_id
)
INSERT INTO oura_link_states (state_hash, user_id, code_verifier, browser_hash, expires_at)
SELECT $1, $2, $3, $4, now() + $7 * interval '1 millisecond' FROM spent`;
    const sealed = seal(this.key, link.codeVerifier, link.userId);
    const values = [hashState(state), link.userId, sealed, link.browserHash, token.tokenId, token.keepUntil, ttlMs];
    const result = await this.pool.query(sql, values);
    return result.rowCount === 1;
  }

  /** Deletes the state and returns it, once: unknown, expired or already used gives undefined. */
  async consumeLinkState(state: string): Promise<LinkState | undefined> {
    const result = await this.pool.query<{
      user_id: string;
      code_verifier: Buffer;
      browser_hash: string;
      live: boolean;
    }>(
      `DELETE FROM oura_link_states WHERE state_hash = $1
       RETURNING user_id, code_verifier, browser_hash, expires_at > now() AS live`,
      [hashState(state)],
    );
    const row = result.rows[0];
    if (!row?.live) return undefined;
    const codeVerifier = unseal(this.key, row.code_verifier, row.user_id);
    return { userId: row.user_id, codeVerifier, browserHash: row.browser_hash };
  }

  /** Stores an exchanged link under its completion code (by its hash) until the app confirms it. */
  async holdLink(completion: string, link: HeldLink, ttlMs: number): Promise<void> {
    await this.pool.query("DELETE FROM oura_link_pending WHERE expires_at < now()");
    const { userId, tokens } = link;
    await this.pool.query(
      `INSERT INTO oura_link_pending
         (completion_hash, user_id, oura_user_id, access_token, refresh_token, token_expires_at, scope, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 millisecond')`,
      [
        hashState(completion),
        userId,
        link.ouraUserId,
        seal(this.key, tokens.accessToken, userId),
        seal(this.key, tokens.refreshToken, userId),
        tokens.expiresAt,
        tokens.scope,
        ttlMs,
      ],
    );
  }

  /**
   * Spends the confirming link token and deletes the held link, in one statement, whoever the token names: a
   * completion code presented with the wrong user's token is burnt, never tried again.
   */
  async takeHeldLink(completion: string, token: LinkTokenUse & { userId: string }): Promise<HeldLinkTake> {
    const sql = `
WITH spent AS (
  INSERT INTO oura_link_tokens_used (token_id, user_id, expires_at) VALUES ($2, $3, $4)
  ON CONFLICT (token_id) DO NOTHING RETURNING token_id
), taken AS (
  DELETE FROM oura_link_pending WHERE completion_hash = $1 AND EXISTS (SELECT 1 FROM spent)
  RETURNING user_id, oura_user_id, access_token, refresh_token, token_expires_at, scope, expires_at > now() AS live
)
SELECT (SELECT count(*) FROM spent)::int AS spent, taken.* FROM (SELECT 1) AS one LEFT JOIN taken ON true`;
    const { rows } = await this.pool.query<HeldRow>(sql, [
      hashState(completion),
      token.tokenId,
      token.userId,
      token.keepUntil,
    ]);
    const row = rows[0];
    if (!row || row.spent === 0) return { kind: "token-used" };
    if (row.user_id === null || !row.live) return { kind: "unknown" };
    return { kind: "held", link: this.#openHeld(row, row.user_id) };
  }

  /**
   * Links `userId` to the Oura account, or refreshes the tokens when it is already linked to the
   * same one. Throws OuraAccountTakenError when another user holds the Oura account, and
   * UserLinkedElsewhereError when `userId` is linked to a different Oura account.
   */
  async saveAccount(userId: string, ouraUserId: string, tokens: OuraTokens): Promise<void> {
    // The WHERE makes "a different Oura account" a no-op (0 rows) in the same statement, so
    // two callbacks racing cannot replace a link between a check and a write.
    const sql = `
INSERT INTO oura_accounts (user_id, oura_user_id, access_token, refresh_token, expires_at, scope)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id) DO UPDATE
   SET access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,
       expires_at = EXCLUDED.expires_at, scope = EXCLUDED.scope, updated_at = now()
 WHERE oura_accounts.oura_user_id = EXCLUDED.oura_user_id`;
    const sealed = [seal(this.key, tokens.accessToken, userId), seal(this.key, tokens.refreshToken, userId)];
    const values = [userId, ouraUserId, ...sealed, tokens.expiresAt, tokens.scope];
    let written: number | null;
    try {
      ({ rowCount: written } = await this.pool.query(sql, values));
    } catch (error) {
      if ((error as { constraint?: string }).constraint === "oura_accounts_oura_user_id_key")
        throw new OuraAccountTakenError();
      throw error;
    }
    if (written === 0) throw new UserLinkedElsewhereError();
  }

  /** The account whose webhooks carry `ouraUserId`, or undefined when none is linked. */
  async findByOuraUser(ouraUserId: string): Promise<OuraAccount | undefined> {
    try {
      const result = await this.pool.query<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM oura_accounts WHERE oura_user_id = $1`,
        [ouraUserId],
      );
      return result.rows[0] && this.#open(result.rows[0]);
    } catch (error) {
      throw classifyDbError(error);
    }
  }

  /**
   * Runs `renew` with the account's row locked (`FOR UPDATE`), so two workers never spend
   * the same single-use refresh token; stores the tokens it returns. Resolves to the access
   * token now current, or undefined when the account is gone.
   */
  async renewLocked(
    userId: string,
    renew: (current: OuraAccount) => Promise<OuraTokens | undefined>,
  ): Promise<string | undefined> {
    const client = await this.pool.connect().catch((error: unknown) => Promise.reject(classifyDbError(error)));
    try {
      await client.query("BEGIN");
      const result = await client.query<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM oura_accounts WHERE user_id = $1 FOR UPDATE`,
        [userId],
      );
      const current = result.rows[0] && this.#open(result.rows[0]);
      const tokens = current && (await renew(current));
      if (tokens) await this.#updateTokens(client, userId, tokens);
      await client.query("COMMIT");
      return tokens?.accessToken ?? current?.accessToken;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error instanceof OuraApiError ? error : classifyDbError(error);
    } finally {
      client.release();
    }
  }

  async #updateTokens(client: pg.PoolClient, userId: string, tokens: OuraTokens): Promise<void> {
    await client.query(
      "UPDATE oura_accounts SET access_token = $2, refresh_token = $3, expires_at = $4, " +
        "scope = COALESCE($5, scope), updated_at = now() WHERE user_id = $1",
      [
        userId,
        seal(this.key, tokens.accessToken, userId),
        seal(this.key, tokens.refreshToken, userId),
        tokens.expiresAt,
        tokens.scope,
      ],
    );
  }

  #openHeld(row: HeldRow, userId: string): HeldLink {
    const tokens = {
      accessToken: unseal(this.key, row.access_token, userId),
      refreshToken: unseal(this.key, row.refresh_token, userId),
      expiresAt: row.token_expires_at,
      scope: row.scope,
    };
    return { userId, ouraUserId: row.oura_user_id, tokens };
  }

  #open(row: AccountRow): OuraAccount {
    return {
      userId: row.user_id,
      ouraUserId: row.oura_user_id,
      accessToken: unseal(this.key, row.access_token, row.user_id),
      refreshToken: unseal(this.key, row.refresh_token, row.user_id),
      expiresAt: row.expires_at,
    };
  }
}
