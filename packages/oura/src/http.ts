import type { Validation } from "@aa/contracts";

/**
 * How an Oura call failed, so callers can route it without reading status codes:
 * `unavailable` (no answer, timeout, 5xx: retry later), `rate_limited` (429: retry after
 * `retryAfterMs`), `unauthorized` (401: refresh the token), `not_found` (404), `rejected`
 * (any other 4xx, or an answer that is not the documented shape: retrying will not help).
 */
export type OuraFailure = "unavailable" | "rate_limited" | "unauthorized" | "not_found" | "rejected";

/** An Oura API or OAuth call that did not give the expected answer. Never carries tokens or secrets. */
export class OuraApiError extends Error {
  readonly code = "AA_ERR_OURA_API";
  constructor(
    message: string,
    readonly failure: OuraFailure,
    /** HTTP status, undefined when there was no answer. */
    readonly status?: number,
    /** For `rate_limited`: how long Oura asked us to wait, in ms. */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "OuraApiError";
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]"]);

/**
 * Why `url` is not a safe place to send Oura credentials and tokens, or undefined: it must be https, or plain http
 * to this machine (a fake Oura in tests, a local proxy). Over plain http anyone on the path reads the client secret,
 * the authorization code and every user's tokens. Never quotes the URL, which may carry credentials.
 */
export function insecureUrlProblem(name: string, url: string): string | undefined {
  if (URL.canParse(url)) {
    const { protocol, hostname } = new URL(url);
    if (protocol === "https:") return undefined;
    const loopback = LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
    if (protocol === "http:" && loopback) return undefined;
  }
  return (
    `${name} must be an https:// URL (over plain http the client secret, codes and tokens travel readable); ` +
    "http:// is accepted for loopback only (127.0.0.1, [::1], localhost)"
  );
}

/** Where and how to call Oura. */
export interface OuraHttp {
  /** API base URL, e.g. `https://api.ouraring.com` (OURA_API_BASE_URL). */
  baseUrl: string;
  /** Per request, in ms. Default 10 000. */
  timeoutMs?: number;
  /** Injected in tests; default the global `fetch`. */
  fetch?: typeof fetch;
}

export interface OuraRequest<T> {
  method: "GET" | "POST" | "PUT";
  /** A path under `baseUrl` (`/v2/...`) or an absolute URL (the token endpoint). */
  url: string;
  headers?: Record<string, string>;
  /** A JSON body, or form fields (sent `application/x-www-form-urlencoded`). */
  json?: unknown;
  form?: Record<string, string>;
  validate: (value: unknown) => Validation<T>;
  /** For messages: `GET /v2/usercollection/sleep/{id}`. */
  what: string;
}

/** Used when a 429 has no usable `Retry-After`. */
export const DEFAULT_RETRY_AFTER_MS = 60_000;
/** A `Retry-After` longer than this is capped (the message is redelivered, not parked for hours). */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** `Retry-After`: delay-seconds or an HTTP date, in ms, capped; the default when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number {
  const text = value?.trim() ?? "";
  let ms: number | undefined;
  if (/^\d+$/.test(text)) ms = Number(text) * 1_000;
  else if (text !== "" && !Number.isNaN(Date.parse(text))) ms = Math.max(0, Date.parse(text) - now);
  return Math.min(ms ?? DEFAULT_RETRY_AFTER_MS, MAX_RETRY_AFTER_MS);
}

function failureOf(status: number): OuraFailure {
  if (status === 429) return "rate_limited";
  if (status >= 500) return "unavailable";
  if (status === 401) return "unauthorized";
  if (status === 404) return "not_found";
  return "rejected";
}

function bodyOf<T>(request: OuraRequest<T>): { body?: string; contentType?: string } {
  if (request.form)
    return { body: new URLSearchParams(request.form).toString(), contentType: "application/x-www-form-urlencoded" };
  if (request.json !== undefined) return { body: JSON.stringify(request.json), contentType: "application/json" };
  return {};
}

async function send<T>(http: OuraHttp, request: OuraRequest<T>): Promise<Response> {
  const { body, contentType } = bodyOf(request);
  const url = /^https?:\/\//.test(request.url) ? request.url : `${http.baseUrl.replace(/\/+$/, "")}${request.url}`;
  const headers = {
    accept: "application/json",
    ...(contentType ? { "content-type": contentType } : {}),
    ...request.headers,
  };
  try {
    return await (http.fetch ?? fetch)(url, {
      method: request.method,
      headers,
      body,
      signal: AbortSignal.timeout(http.timeoutMs ?? 10_000),
    });
  } catch (error) {
    const why = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new OuraApiError(`${request.what}: no answer from Oura (${why})`, "unavailable", undefined, undefined, {
      cause: error,
    });
  }
}

/** Sends one request and returns the validated JSON answer; any other outcome is an OuraApiError. */
export async function ouraRequest<T>(http: OuraHttp, request: OuraRequest<T>): Promise<T> {
  const response = await send(http, request);
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    const failure = failureOf(response.status);
    const retryAfterMs = failure === "rate_limited" ? parseRetryAfter(response.headers.get("retry-after")) : undefined;
    throw new OuraApiError(
      `${request.what}: Oura answered HTTP ${response.status} ${text.slice(0, 200)}`.trim(),
      failure,
      response.status,
      retryAfterMs,
    );
  }
  let value: unknown;
  try {
    // An empty 2xx body (as the token revocation may answer) is `null` for the validator to judge.
    value = text.trim() === "" ? null : JSON.parse(text);
  } catch {
    throw new OuraApiError(
      `${request.what}: Oura answered HTTP ${response.status} with a body that is not JSON`,
      "rejected",
      response.status,
    );
  }
  const result = request.validate(value);
  if (!result.ok) {
    const details = result.errors.map((e) => `${e.field} ${e.message}`).join("; ");
    throw new OuraApiError(`${request.what}: unexpected answer from Oura: ${details}`, "rejected", response.status);
  }
  return result.value;
}
