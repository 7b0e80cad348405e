import { createHash, randomBytes } from "node:crypto";
import { Type } from "@sinclair/typebox";
import { compileValidator } from "@aa/contracts";
import { ouraRequest, type OuraHttp } from "./http.js";

/** The app's Oura OAuth client (OURA_CLIENT_ID, OURA_CLIENT_SECRET). */
export interface OuraClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** Tokens of one Oura user, as the token endpoint issued them. */
export interface OuraTokens {
  accessToken: string;
  /** Oura refresh tokens are single-use: every refresh returns a new one. */
  refreshToken: string;
  expiresAt: Date;
  scope: string | null;
}

/** RFC 7636 PKCE pair: the verifier stays server-side, the S256 challenge goes to the authorize URL. */
export interface Pkce {
  verifier: string;
  challenge: string;
}

const base64url = (bytes: Buffer): string => bytes.toString("base64url");

/** A 43-character verifier (32 random bytes) and its S256 challenge. */
export function createPkce(): Pkce {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash("sha256").update(verifier).digest()) };
}

/** An unguessable, single-use `state` value (32 random bytes). */
export const createState = (): string => base64url(randomBytes(32));

export interface AuthorizeRequest {
  /** OURA_AUTHORIZE_URL, default https://cloud.ouraring.com/oauth/authorize */
  authorizeUrl: string;
  clientId: string;
  redirectUri: string;
  /** Space-separated scopes, e.g. `personal daily`. */
  scope: string;
  state: string;
  codeChallenge: string;
}

/** The authorization-code URL the user's browser is sent to (PKCE S256). */
export function authorizeUrl(request: AuthorizeRequest): string {
  const url = new URL(request.authorizeUrl);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", request.clientId);
  url.searchParams.set("redirect_uri", request.redirectUri);
  url.searchParams.set("scope", request.scope);
  url.searchParams.set("state", request.state);
  url.searchParams.set("code_challenge", request.codeChallenge);
  url.searchParams.set("code_challenge_method", "S256");
  return url.toString();
}

const TokenResponseSchema = Type.Object(
  {
    access_token: Type.String({ minLength: 1 }),
    refresh_token: Type.String({ minLength: 1 }),
    /** Seconds. */
    expires_in: Type.Number({ minimum: 0 }),
    token_type: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
const validateTokenResponse = compileValidator(TokenResponseSchema);

async function tokenRequest(
  http: OuraHttp,
  tokenUrl: string,
  form: Record<string, string>,
  what: string,
  now: () => Date,
): Promise<OuraTokens> {
  const answer = await ouraRequest(http, {
    method: "POST",
    url: tokenUrl,
    form,
    validate: validateTokenResponse,
    what,
  });
  return {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token,
    expiresAt: new Date(now().getTime() + answer.expires_in * 1_000),
    scope: answer.scope ?? null,
  };
}

export interface CodeExchange {
  /** OURA_TOKEN_URL, default https://api.ouraring.com/oauth/token */
  tokenUrl: string;
  credentials: OuraClientCredentials;
  code: string;
  redirectUri: string;
  codeVerifier: string;
}

/** `grant_type=authorization_code` with the PKCE verifier; client id and secret in the form body. */
export function exchangeCode(http: OuraHttp, request: CodeExchange, now = () => new Date()): Promise<OuraTokens> {
  const form = {
    grant_type: "authorization_code",
    code: request.code,
    redirect_uri: request.redirectUri,
    code_verifier: request.codeVerifier,
    client_id: request.credentials.clientId,
    client_secret: request.credentials.clientSecret,
  };
  return tokenRequest(http, request.tokenUrl, form, "POST oauth/token (authorization_code)", now);
}

/** `grant_type=refresh_token`: the answer's refresh token replaces the old one. */
export function refreshTokens(
  http: OuraHttp,
  tokenUrl: string,
  credentials: OuraClientCredentials,
  refreshToken: string,
  now = () => new Date(),
): Promise<OuraTokens> {
  const form = {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: credentials.clientId,
    client_secret: credentials.clientSecret,
  };
  return tokenRequest(http, tokenUrl, form, "POST oauth/token (refresh_token)", now);
}

/** Oura's token revocation endpoint (OURA_REVOKE_URL): `GET …?access_token=<token>`. */
export const DEFAULT_REVOKE_URL = "https://api.ouraring.com/oauth/revoke";

/**
 * Revokes an access token (and with it the user's grant to this app) at Oura. Resolves when Oura
 * answered 2xx; any other answer is an OuraApiError (`not_found`/`unauthorized` usually mean the
 * grant is already gone). The token is sent as Oura documents it, in the query string.
 */
export async function revokeToken(http: OuraHttp, revokeUrl: string, accessToken: string): Promise<void> {
  const url = new URL(revokeUrl);
  url.searchParams.set("access_token", accessToken);
  await ouraRequest(http, {
    method: "GET",
    url: url.toString(),
    validate: (value) => ({ ok: true, value }),
    what: "GET oauth/revoke",
  });
}
