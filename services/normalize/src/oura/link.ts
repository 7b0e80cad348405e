import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  authorizeUrl,
  createPkce,
  createState,
  exchangeCode,
  getOuraUserId,
  OuraApiError,
  type OuraTokens,
} from "@aa/oura";
import type { LinkState } from "./accounts.js";
import { confirmRoute } from "./link-confirm.js";
import type { OuraLinkDeps } from "./link-deps.js";
import type { OuraSettings } from "./settings.js";

export type { OuraLinkDeps } from "./link-deps.js";

/** How long a started link may take to come back through the callback. */
export const LINK_STATE_TTL_MS = 10 * 60_000;

/**
 * The cookie binding a link to the browser that started it. `__Host-`: Secure, Path=/, no
 * Domain, so no other host can plant or read it. SameSite=Lax, not Strict: the callback
 * arrives as a top-level navigation redirected from Oura's site, which Strict would strip.
 */
export const BROWSER_COOKIE = "__Host-aa-oura-link";

/** The query parameter carrying the link token (a browser navigation cannot send a header). */
export const LINK_TOKEN_PARAM = "link_token";

/** The query parameter of OURA_LINK_RETURN_URL carrying the completion code the app confirms. */
export const COMPLETION_PARAM = "oura_link_completion";

const NOT_CONFIGURED =
  "Oura linking is not configured: set OURA_CLIENT_ID, OURA_CLIENT_SECRET, OURA_TOKEN_ENCRYPTION_KEY, " +
  "OURA_REDIRECT_URI, OURA_LINK_TOKEN_SECRET and OURA_LINK_RETURN_URL on normalize";
const notConfigured = (reply: FastifyReply) => reply.code(503).send({ error: NOT_CONFIGURED });

const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

const bindingCookie = (value: string, maxAgeS: number): string =>
  `${BROWSER_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; Secure; HttpOnly; SameSite=Lax`;

/** The binding cookie's value in the request, or undefined. */
function browserCookie(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === BROWSER_COOKIE) return value.join("=");
  }
  return undefined;
}

/** Whether the request carries the cookie whose hash the state holds (compared in constant time). */
function sameBrowser(request: FastifyRequest, browserHash: string): boolean {
  const value = browserCookie(request);
  if (value === undefined || value === "") return false;
  const [seen, stored] = [Buffer.from(sha256(value)), Buffer.from(browserHash)];
  return seen.length === stored.length && timingSafeEqual(seen, stored);
}

const linkTokenOf = (request: FastifyRequest): string | undefined => {
  const value = (request.query as Record<string, unknown>)[LINK_TOKEN_PARAM];
  return typeof value === "string" && value !== "" ? value : undefined;
};

const NO_TOKEN =
  `A link token is required: open /auth/oura/link?${LINK_TOKEN_PARAM}=<token>, with a token the app's backend ` +
  "mints for the signed-in user (the userId parameter is no longer accepted)";
const UNKNOWN_STATE = "Unknown, expired or already used state: start again at /auth/oura/link";
const TOKEN_USED = "This link token was already used: a link token starts one link; ask the app for a new one";
const OTHER_BROWSER =
  `This link was started in another browser (cookie ${BROWSER_COOKIE} missing or different): ` +
  "start again from the app, in this browser";

/**
 * `GET /auth/oura/link?link_token=…`: spends the link token, stores a PKCE pair and single-use
 * state bound to a fresh browser cookie, then 302 to Oura's consent page. Nothing is stored
 * for a caller without a valid, unused token.
 */
function link(deps: OuraLinkDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const token = linkTokenOf(request);
    if (token === undefined) return reply.code(401).send({ error: NO_TOKEN });
    const verified = await deps.verifyLinkToken(token);
    if (!verified.ok) {
      return reply.code(401).send({ error: `Invalid link token: ${verified.message}; ask the app for a new one` });
    }
    const { userId, tokenId, acceptedUntil } = verified.claims;
    const { verifier, challenge } = createPkce();
    const state = createState();
    const browser = randomBytes(32).toString("base64url");
    const pending = { userId, codeVerifier: verifier, browserHash: sha256(browser) };
    if (!(await deps.store.startLink(state, pending, LINK_STATE_TTL_MS, { tokenId, keepUntil: acceptedUntil }))) {
      return reply.code(401).send({ error: TOKEN_USED });
    }
    const { settings } = deps;
    const url = authorizeUrl({
      authorizeUrl: settings.authorizeUrl,
      clientId: settings.credentials.clientId,
      redirectUri: settings.redirectUri,
      scope: settings.scope,
      state,
      codeChallenge: challenge,
    });
    reply.header("set-cookie", bindingCookie(browser, LINK_STATE_TTL_MS / 1000)).header("cache-control", "no-store");
    // The consent page must not learn this URL from a Referer: it carried the link token.
    reply.header("referrer-policy", "no-referrer");
    return reply.code(302).header("location", url).send({ authorizeUrl: url });
  };
}

/** The code exchanged (with the PKCE verifier) and the Oura user id that the webhooks will carry. */
async function exchange(
  settings: OuraSettings,
  code: string,
  codeVerifier: string,
): Promise<{ tokens: OuraTokens; ouraUserId: string }> {
  const tokens = await exchangeCode(settings.http, {
    tokenUrl: settings.tokenUrl,
    credentials: settings.credentials,
    code,
    redirectUri: settings.redirectUri,
    codeVerifier,
  });
  return { tokens, ouraUserId: await getOuraUserId(settings.http, tokens.accessToken) };
}

/**
 * Exchanges the code and holds the result for the app's confirmation: 303 to OURA_LINK_RETURN_URL with a
 * single-use completion code, or 502. Nothing is linked here: the browser that came back from Oura may
 * not belong to the user the link token named (its holder can send the link URL to anyone), and only the
 * app knows who is signed in there.
 */
async function complete(
  deps: OuraLinkDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  code: string,
  started: LinkState,
) {
  const { userId, codeVerifier } = started;
  let exchanged: Awaited<ReturnType<typeof exchange>>;
  try {
    exchanged = await exchange(deps.settings, code, codeVerifier);
  } catch (error) {
    if (!(error instanceof OuraApiError)) throw error;
    request.log.warn({ err: error, userId }, "[normalize-oura] Oura code exchange failed");
    const message = `Oura did not complete the link: ${error.failure}; start again at /auth/oura/link`;
    return reply.code(502).send({ error: message });
  }
  const completion = createState();
  await deps.store.holdLink(completion, { userId, ...exchanged }, LINK_STATE_TTL_MS);
  const location = new URL(deps.settings.linkReturnUrl);
  location.searchParams.set(COMPLETION_PARAM, completion);
  // The app's page must not leak the completion code onward either (docs/security.md).
  reply.header("referrer-policy", "no-referrer");
  return reply.code(303).header("location", location.href).send({ status: "confirm_in_app" });
}

/**
 * `GET /auth/oura/callback`: consumes the state (once), checks the browser cookie, exchanges
 * the code, holds the tokens (encrypted) for the app to confirm. A state is burnt even when the cookie is wrong, so a
 * consent URL sent to someone else can never complete.
 */
function callback(deps: OuraLinkDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as Record<string, unknown>;
    const state = typeof query.state === "string" ? query.state : "";
    const started = state === "" ? undefined : await deps.store.consumeLinkState(state);
    reply.header("cache-control", "no-store");
    if (!started) return reply.code(400).send({ error: UNKNOWN_STATE });
    // Cleared only once a real state is spent: a stray callback must not break a link in progress.
    reply.header("set-cookie", bindingCookie("", 0));
    if (!sameBrowser(request, started.browserHash)) {
      request.log.warn(
        { userId: started.userId },
        "[normalize-oura] Oura link refused (403): not the browser that started it",
      );
      return reply.code(403).send({ error: OTHER_BROWSER });
    }
    if (typeof query.error === "string") {
      return reply.code(400).send({ error: `Oura authorization was not granted: ${query.error.slice(0, 100)}` });
    }
    if (typeof query.code !== "string" || query.code === "") return reply.code(400).send({ error: "code is required" });
    return complete(deps, request, reply, query.code, started);
  };
}

/** Per client address, before anything else runs: anonymous calls spend the budget too. */
async function limitRate(scope: FastifyInstance, limit: OuraSettings["linkRateLimit"]): Promise<void> {
  if (limit.max === 0) return;
  await scope.register(rateLimit, {
    max: limit.max,
    timeWindow: limit.windowMs,
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) => {
      const budget = `at most ${context.max} per ${limit.windowMs / 1000} s`;
      const message = `Too many Oura link requests from this address: ${budget}; retry in ${context.after}`;
      return Object.assign(new Error(message), { statusCode: context.statusCode });
    },
  });
}

/**
 * `/auth/oura/link` and `/auth/oura/callback`, rate limited per client address, and `POST /auth/oura/confirm`, not
 * (the app's backend calls it for all its users from a few addresses; a link token authenticates each call).
 * Without Oura settings all answer 503 naming what to set.
 */
export function ouraLinkRoutes(deps: OuraLinkDeps | undefined) {
  return async (app: FastifyInstance): Promise<void> => {
    if (!deps) {
      app.get("/auth/oura/link", async (_request, reply) => notConfigured(reply));
      app.get("/auth/oura/callback", async (_request, reply) => notConfigured(reply));
      app.post("/auth/oura/confirm", async (_request, reply) => notConfigured(reply));
      return;
    }
    await app.register(async (browser) => {
      await limitRate(browser, deps.settings.linkRateLimit);
      browser.get("/auth/oura/link", link(deps));
      browser.get("/auth/oura/callback", callback(deps));
    });
    app.post("/auth/oura/confirm", confirmRoute(deps));
  };
}
