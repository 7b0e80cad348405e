import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { compileValidator, UserId } from "@aa/contracts";
import { authorizeUrl, createPkce, createState, exchangeCode, getOuraUserId, OuraApiError, type OuraTokens } from "@aa/oura";
import { OuraAccountTakenError, type OuraAccountStore } from "./oura-accounts.js";
import type { OuraSettings } from "./oura-settings.js";

/** How long a started link may take to come back through the callback. */
export const LINK_STATE_TTL_MS = 10 * 60_000;

/**
 * Who is linking an Oura account: our user id, or undefined to refuse (401).
 * Issue 9 (authentication) plugs its session check in here.
 */
export type LinkCaller = (request: FastifyRequest) => Promise<string | undefined> | string | undefined;

const validateUserId = compileValidator(UserId);

/**
 * UNAUTHENTICATED until issue 9: takes the user id from the `userId` query parameter, so
 * anyone who can reach `/auth/oura/link` can link an Oura account to any user id.
 */
export const userIdFromQuery: LinkCaller = (request) => {
  const userId = (request.query as Record<string, unknown>).userId;
  return validateUserId(userId).ok ? (userId as string) : undefined;
};

export interface OuraLinkDeps {
  store: OuraAccountStore;
  settings: OuraSettings;
  caller?: LinkCaller;
}

const notConfigured = (reply: FastifyReply) =>
  reply.code(503).send({ error: "Oura linking is not configured: set OURA_CLIENT_ID, OURA_CLIENT_SECRET, OURA_TOKEN_ENCRYPTION_KEY and OURA_REDIRECT_URI on normalize" });

/** `GET /auth/oura/link`: a PKCE pair and single-use state in PostgreSQL, then 302 to Oura's consent page. */
function link(deps: OuraLinkDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const userId = await (deps.caller ?? userIdFromQuery)(request);
    if (userId === undefined) return reply.code(deps.caller ? 401 : 400).send({ error: deps.caller ? "Not authenticated" : "userId query parameter is required (1-128 characters)" });
    const { verifier, challenge } = createPkce();
    const state = createState();
    await deps.store.saveLinkState(state, { userId, codeVerifier: verifier }, LINK_STATE_TTL_MS);
    const { settings } = deps;
    const url = authorizeUrl({ authorizeUrl: settings.authorizeUrl, clientId: settings.credentials.clientId, redirectUri: settings.redirectUri, scope: settings.scope, state, codeChallenge: challenge });
    return reply.code(302).header("location", url).send({ authorizeUrl: url });
  };
}

/** The code exchanged (with the PKCE verifier) and the Oura user id that the webhooks will carry. */
async function exchange(settings: OuraSettings, code: string, codeVerifier: string): Promise<{ tokens: OuraTokens; ouraUserId: string }> {
  const tokens = await exchangeCode(settings.http, { tokenUrl: settings.tokenUrl, credentials: settings.credentials, code, redirectUri: settings.redirectUri, codeVerifier });
  return { tokens, ouraUserId: await getOuraUserId(settings.http, tokens.accessToken) };
}

/** `GET /auth/oura/callback`: consumes the state (once), exchanges the code, stores the tokens encrypted. */
function callback(deps: OuraLinkDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as Record<string, unknown>;
    const state = typeof query.state === "string" ? query.state : "";
    const link = state === "" ? undefined : await deps.store.consumeLinkState(state);
    if (!link) return reply.code(400).send({ error: "Unknown, expired or already used state: start again at /auth/oura/link" });
    if (typeof query.error === "string") return reply.code(400).send({ error: `Oura authorization was not granted: ${query.error.slice(0, 100)}` });
    if (typeof query.code !== "string" || query.code === "") return reply.code(400).send({ error: "code is required" });
    try {
      const { tokens, ouraUserId } = await exchange(deps.settings, query.code, link.codeVerifier);
      await deps.store.saveAccount(link.userId, ouraUserId, tokens);
      request.log.info({ userId: link.userId }, "[normalize-oura] Oura account linked");
      return reply.code(200).send({ status: "linked", userId: link.userId });
    } catch (error) {
      if (error instanceof OuraAccountTakenError) return reply.code(409).send({ error: error.message });
      if (!(error instanceof OuraApiError)) throw error;
      request.log.warn({ err: error, userId: link.userId }, "[normalize-oura] Oura code exchange failed");
      return reply.code(502).send({ error: `Oura did not complete the link: ${error.failure}; start again at /auth/oura/link` });
    }
  };
}

/** `/auth/oura/link` and `/auth/oura/callback`; without Oura settings both answer 503 saying what to set. */
export function ouraLinkRoutes(deps: OuraLinkDeps | undefined) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get("/auth/oura/link", deps ? link(deps) : async (_request, reply) => notConfigured(reply));
    app.get("/auth/oura/callback", deps ? callback(deps) : async (_request, reply) => notConfigured(reply));
  };
}
