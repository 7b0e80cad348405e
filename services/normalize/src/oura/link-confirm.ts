import type { FastifyReply, FastifyRequest } from "fastify";
import { OuraAccountTakenError, UserLinkedElsewhereError, type HeldLink } from "./accounts.js";
import type { OuraLinkDeps } from "./link-deps.js";

const BAD_BODY =
  'Send JSON {"completion":"<oura_link_completion from the return URL>","link_token":"<a link token for the ' +
  'user signed in to the app>"}';
const UNKNOWN_COMPLETION = "Unknown, expired or already confirmed link: start again at /auth/oura/link";
const TOKEN_USED = "This link token was already used: mint a new one for the signed-in user";
const OTHER_USER =
  "Not linked: this link was started for another user than the one signed in to the app (a link URL opened " +
  "from someone else's message?); the Oura authorization was discarded; start again from the app";

/** The two strings of the body, or undefined when either is missing. */
function bodyOf(request: FastifyRequest): { completion: string; linkToken: string } | undefined {
  const body = request.body as { completion?: unknown; link_token?: unknown } | null;
  const { completion, link_token: linkToken } = body ?? {};
  if (typeof completion !== "string" || completion === "" || typeof linkToken !== "string" || linkToken === "")
    return undefined;
  return { completion, linkToken };
}

/** Stores the held account for its user: 200, or 409 when a link would be replaced or stolen. */
async function store(deps: OuraLinkDeps, request: FastifyRequest, reply: FastifyReply, held: HeldLink) {
  const { userId } = held;
  try {
    await deps.store.saveAccount(userId, held.ouraUserId, held.tokens);
  } catch (error) {
    if (!(error instanceof OuraAccountTakenError || error instanceof UserLinkedElsewhereError)) throw error;
    request.log.warn({ userId, reason: error.name }, "[normalize-oura] Oura link refused (409)");
    return reply.code(409).send({ error: `Not linked: ${error.message}` });
  }
  request.log.info({ userId }, "[normalize-oura] Oura account linked");
  return reply.code(200).send({ status: "linked", userId });
}

/**
 * `POST /auth/oura/confirm`, called by the app's backend when the browser reaches OURA_LINK_RETURN_URL: the
 * link is stored only when the app's signed-in user (the `sub` of a fresh link token) is the user the link was
 * started for. A mismatch burns the held link: the browser's owner approved Oura access for a link someone else
 * started.
 */
export function confirmRoute(deps: OuraLinkDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header("cache-control", "no-store");
    const body = bodyOf(request);
    if (!body) return reply.code(400).send({ error: BAD_BODY });
    const verified = await deps.verifyLinkToken(body.linkToken);
    if (!verified.ok) {
      return reply.code(401).send({ error: `Invalid link token: ${verified.message}; mint a new one` });
    }
    const { userId, tokenId, acceptedUntil } = verified.claims;
    const taken = await deps.store.takeHeldLink(body.completion, { userId, tokenId, keepUntil: acceptedUntil });
    if (taken.kind === "token-used") return reply.code(401).send({ error: TOKEN_USED });
    if (taken.kind === "unknown") return reply.code(400).send({ error: UNKNOWN_COMPLETION });
    if (taken.link.userId !== userId) {
      // `userIds`, not a field of its own: the logger hashes user ids by field name.
      request.log.warn(
        { userIds: [taken.link.userId, userId] },
        "[normalize-oura] Oura link refused (403): started for the first user, confirmed by the second",
      );
      return reply.code(403).send({ error: OTHER_USER });
    }
    return store(deps, request, reply, taken.link);
  };
}
