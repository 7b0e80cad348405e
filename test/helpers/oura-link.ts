import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { SignJWT, type JWTPayload } from "jose";
import type { FakeOura } from "./fake-oura.js";

/** The audience normalize requires, spelled out here rather than imported from the code under test. */
export const LINK_AUDIENCE = "athlete-ally:oura-link";
export const BROWSER_COOKIE = "__Host-aa-oura-link";

/**
 * A link token as the app's backend would mint it (HS256, 10 minutes), signed with jose directly:
 * `claims` and `header` override or remove (undefined) any part, to forge bad ones.
 */
export async function linkToken(
  secret: string,
  userId: string,
  claims: Partial<Record<keyof JWTPayload, unknown>> = {},
  alg = "HS256",
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = Object.fromEntries(
    Object.entries({ sub: userId, aud: LINK_AUDIENCE, iat: now, exp: now + 600, jti: randomUUID(), ...claims }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(new TextEncoder().encode(secret));
}

export interface StartedLink {
  /** Oura's consent page the browser was sent to. */
  authorize: URL;
  /** The `Set-Cookie` header as sent. */
  setCookie: string;
  /** `name=value`, as the browser sends it back. */
  cookie: string;
}

/** The browser's first hop: `/auth/oura/link?link_token=…` must answer 302 with the binding cookie. */
export async function startLink(normalizeUrl: string, token: string, extraQuery = ""): Promise<StartedLink> {
  const start = await fetch(`${normalizeUrl}/auth/oura/link?link_token=${encodeURIComponent(token)}${extraQuery}`, {
    redirect: "manual",
  });
  assert.equal(start.status, 302, await start.text());
  const setCookie = start.headers.getSetCookie().find((c) => c.startsWith(`${BROWSER_COOKIE}=`));
  assert.ok(setCookie, `a ${BROWSER_COOKIE} cookie is set`);
  return { authorize: new URL(start.headers.get("location") ?? ""), setCookie, cookie: setCookie.split(";")[0]! };
}

/** Oura's consent (the fake grants it as `ouraUserId`): the callback URL Oura redirects the browser to. */
export async function consent(fake: FakeOura, authorize: URL, ouraUserId: string): Promise<string> {
  fake.nextOuraUserId = ouraUserId;
  const answer = await fetch(authorize, { redirect: "manual" });
  return answer.headers.get("location") ?? "";
}

export interface CallbackResult {
  status: number;
  body: Record<string, unknown>;
  setCookie: string[];
  /** Where the callback sent the browser (the app's return URL), or "". */
  location: string;
}

/** The browser's hop back from Oura, with the cookie it holds (or none): 303 to the app when all is well. */
export async function finishLink(callbackUrl: string, cookie: string | undefined): Promise<CallbackResult> {
  const done = await fetch(callbackUrl, { headers: cookie === undefined ? {} : { cookie }, redirect: "manual" });
  return {
    status: done.status,
    body: (await done.json()) as Record<string, unknown>,
    setCookie: done.headers.getSetCookie(),
    location: done.headers.get("location") ?? "",
  };
}

/** The completion code the callback sent the browser to the app with. */
export function completionOf(finished: CallbackResult): string {
  assert.equal(finished.status, 303, `the callback sends the browser to the app: ${JSON.stringify(finished.body)}`);
  return new URL(finished.location).searchParams.get("oura_link_completion") ?? "";
}

/** The app's backend, for its signed-in user, confirms the link the browser came back with. */
export async function confirmInApp(
  normalizeUrl: string,
  secret: string,
  signedInUser: string,
  completion: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await fetch(`${normalizeUrl}/auth/oura/confirm`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ completion, link_token: await linkToken(secret, signedInUser) }),
  });
  return { status: reply.status, body: (await reply.json()) as Record<string, unknown> };
}

/** The callback's answer, then (when it sent the browser to the app) the app's confirmation as `signedInUser`. */
export async function finishAndConfirm(
  normalizeUrl: string,
  secret: string,
  signedInUser: string,
  finished: CallbackResult,
): Promise<CallbackResult> {
  if (finished.status !== 303) return finished;
  return { ...finished, ...(await confirmInApp(normalizeUrl, secret, signedInUser, completionOf(finished))) };
}

/**
 * The whole trip in one browser, the app's signed-in user being `userId`: link token → /auth/oura/link → Oura
 * consent → /auth/oura/callback → the app's return page → POST /auth/oura/confirm.
 */
export async function linkInBrowser(
  normalizeUrl: string,
  fake: FakeOura,
  secret: string,
  userId: string,
  ouraUserId: string,
) {
  const token = await linkToken(secret, userId);
  const started = await startLink(normalizeUrl, token);
  const callbackUrl = await consent(fake, started.authorize, ouraUserId);
  const finished = await finishLink(callbackUrl, started.cookie);
  return { ...started, token, callbackUrl, ...(await finishAndConfirm(normalizeUrl, secret, userId, finished)) };
}
