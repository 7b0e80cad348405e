import { OuraApiError, refreshTokens, type OuraTokens } from "@aa/oura";
import type { OuraAccount, OuraAccountStore } from "./accounts.js";
import type { OuraSettings } from "./settings.js";

/** Refresh this long before `expires_at`, so a token does not expire between check and use. */
const EXPIRY_MARGIN_MS = 60_000;

/** The refresh token was refused (revoked, already used, app de-authorized): only re-linking helps. */
function asUnauthorized(error: unknown): unknown {
  if (!(error instanceof OuraApiError) || (error.failure !== "rejected" && error.failure !== "unauthorized"))
    return error;
  return new OuraApiError(
    `${error.message}: the refresh token was refused; the user must link Oura again`,
    "unauthorized",
    error.status,
    undefined,
    { cause: error },
  );
}

/**
 * Gives Oura calls a valid access token: refreshes one that is about to expire, and
 * refreshes once and retries when Oura answers 401. A refresh runs with the account row
 * locked and is skipped when another worker already replaced the token.
 */
export class OuraTokenSource {
  constructor(
    private readonly store: OuraAccountStore,
    private readonly settings: Pick<OuraSettings, "http" | "tokenUrl" | "credentials">,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async call<T>(account: OuraAccount, request: (accessToken: string) => Promise<T>): Promise<T> {
    const fresh = account.expiresAt.getTime() - EXPIRY_MARGIN_MS > this.now().getTime();
    const token = fresh ? account.accessToken : await this.refresh(account.userId, account.accessToken);
    try {
      return await request(token);
    } catch (error) {
      if (!(error instanceof OuraApiError) || error.failure !== "unauthorized") throw error;
      return await request(await this.refresh(account.userId, token));
    }
  }

  /** A new access token for the account, unless `stale` was already replaced by another worker. */
  async refresh(userId: string, stale: string): Promise<string> {
    const token = await this.store.renewLocked(userId, (current) => this.#renew(current, stale));
    if (token === undefined)
      throw new OuraApiError("the Oura account was unlinked while its data was being fetched", "unauthorized");
    return token;
  }

  async #renew(current: OuraAccount, stale: string): Promise<OuraTokens | undefined> {
    const replaced =
      current.accessToken !== stale && current.expiresAt.getTime() - EXPIRY_MARGIN_MS > this.now().getTime();
    if (replaced) return undefined;
    const { http, tokenUrl, credentials } = this.settings;
    return await refreshTokens(http, tokenUrl, credentials, current.refreshToken, this.now).catch((error: unknown) =>
      Promise.reject(asUnauthorized(error)),
    );
  }
}
