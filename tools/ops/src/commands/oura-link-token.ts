import { LINK_TOKEN_MAX_LIFETIME_S, LINK_TOKEN_SECRET_MIN_LENGTH, mintLinkToken } from "@aa/oura";
import { compileValidator, UserId } from "@aa/contracts";
import { writeJson, type Writer } from "../output.js";
import { usageError, type CliExitCode, type OfflineCommand, type CommandInput, type OptionSpec } from "./command.js";
import { durationMs } from "../duration.js";

const validateUserId = compileValidator(UserId);
const LINK_TOKEN_PARAM = "link_token";

const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  user: { type: "string", value: "<id>", help: "our user id the Oura account will be linked to (required)" },
  "expires-in": {
    type: "string",
    value: "<duration>",
    help: `how long the token is valid (30s, 5m; default and most ${LINK_TOKEN_MAX_LIFETIME_S / 60}m)`,
  },
  "link-url": {
    type: "string",
    value: "<url>",
    help: "normalize's public /auth/oura/link URL: print the whole link to open instead of the token",
  },
};

interface LinkTokenRequest {
  secret: string;
  userId: string;
  lifetimeS: number;
  linkUrl: URL | undefined;
}

function lifetimeOf(raw: string | boolean | undefined): number {
  if (raw === undefined) return LINK_TOKEN_MAX_LIFETIME_S;
  const ms = durationMs(String(raw));
  if (ms === undefined || ms > LINK_TOKEN_MAX_LIFETIME_S * 1000) {
    const most = `${LINK_TOKEN_MAX_LIFETIME_S / 60}m`;
    throw usageError(`--expires-in takes a duration up to ${most} such as 30s or 5m, got ${JSON.stringify(raw)}`);
  }
  return ms / 1000;
}

function linkUrlOf(raw: string | boolean | undefined): URL | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^https?:\/\//.test(raw)) {
    throw usageError(`--link-url takes normalize's public /auth/oura/link URL, got ${JSON.stringify(raw)}`);
  }
  return new URL(raw);
}

function requestOf(input: CommandInput): LinkTokenRequest {
  const secret = input.env.OURA_LINK_TOKEN_SECRET?.trim() ?? "";
  if (secret.length < LINK_TOKEN_SECRET_MIN_LENGTH) {
    const length = `at least ${LINK_TOKEN_SECRET_MIN_LENGTH} characters`;
    throw usageError(`OURA_LINK_TOKEN_SECRET must be set (${length}, the same value as normalize's)`);
  }
  const userId = input.options.user;
  if (typeof userId !== "string" || userId.trim() === "") throw usageError("oura link-token needs --user <id>");
  if (!validateUserId(userId.trim()).ok) {
    throw usageError(
      `--user: ${JSON.stringify(userId)} is not a valid user id (1-128 characters, no control characters)`,
    );
  }
  const lifetimeS = lifetimeOf(input.options["expires-in"]);
  return { secret, userId: userId.trim(), lifetimeS, linkUrl: linkUrlOf(input.options["link-url"]) };
}

async function run(request: LinkTokenRequest, json: boolean, out: Writer): Promise<CliExitCode> {
  const token = await mintLinkToken(request.secret, request.userId, request.lifetimeS);
  const url = request.linkUrl && new URL(request.linkUrl);
  url?.searchParams.set(LINK_TOKEN_PARAM, token);
  const expiresAt = new Date(Date.now() + request.lifetimeS * 1000).toISOString();
  if (json) writeJson(out, { userId: request.userId, token, expiresAt, ...(url && { url: url.toString() }) });
  else out(url?.toString() ?? token);
  return 0;
}

/** `aa-ops oura link-token`: what the app's backend does for its signed-in user, for operators and tests. */
export const linkTokenCommand: OfflineCommand = {
  words: ["oura", "link-token"],
  args: [],
  nats: false,
  summary: "Mint a one-time link token that lets a browser link an Oura account to a user (normalize /auth/oura/link)",
  details: [
    "Signs an HS256 JWT (aud athlete-ally:oura-link, sub = the user, jti, exp at most 10 minutes) with",
    "OURA_LINK_TOKEN_SECRET, exactly as the app's backend does for its signed-in user; needs no NATS.",
    `Open <normalize>/auth/oura/link?${LINK_TOKEN_PARAM}=<token> in the user's own browser: the link is bound`,
    "to that browser, and the token is spent by its first use. Anyone holding the token can link an Oura",
    "account to this user until then: hand it only to that user. The link is stored only once the app",
    "confirms it for the same user (POST /auth/oura/confirm with a second token; docs/oura.md).",
    "See docs/security.md.",
  ],
  options: OPTIONS,
  prepare(input) {
    const request = requestOf(input);
    return (out) => run(request, input.json, out);
  },
};
