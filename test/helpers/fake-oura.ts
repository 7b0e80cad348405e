import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback stand-in for Oura's cloud, following the documented endpoints and shapes:
 * OAuth (`/oauth/authorize`, `/oauth/revoke`, `/oauth/token` with authorization_code + PKCE S256 and
 * single-use refresh tokens), `/v2/usercollection/personal_info`,
 * `/v2/usercollection/sleep/{document_id}` and `/v2/webhook/subscription` (client id/secret
 * headers; create performs the GET handshake against the callback, as Oura does).
 */
export interface FakeOura {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Every request, in order. */
  requests: {
    method: string;
    path: string;
    at: number;
    headers: IncomingMessage["headers"];
    form?: Record<string, string>;
  }[];
  /** Sleep documents by id (`SleepModel` fields). */
  sleep: Map<string, Record<string, unknown>>;
  /** Subscriptions as Oura stores them. */
  subscriptions: Map<string, Record<string, unknown>>;
  /** The Oura user id the next consent (GET /oauth/authorize) is given by. */
  nextOuraUserId: string;
  /** Answers queued for a path (consumed first-in first-out before the normal answer). */
  script(path: string, answer: { status: number; headers?: Record<string, string>; body?: unknown }): void;
  /** Makes Oura reject an access token with 401 from now on (as after its expiry). */
  expireAccessToken(token: string): void;
  /** Tokens issued, newest last: access and refresh token per grant. */
  issued: { accessToken: string; refreshToken: string; ouraUserId: string; grant: string }[];
  /** Access tokens revoked with `GET /oauth/revoke?access_token=…`, in order. */
  revoked: string[];
  close(): Promise<void>;
}

interface Grant {
  ouraUserId: string;
  challenge: string;
  method: string;
  redirectUri: string;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");
const token = (prefix: string) => `${prefix}-${randomBytes(12).toString("hex")}`;

/** Oura's webhook body for a new sleep document of `ouraUserId` (`extra` adds or overrides fields). */
export const sleepNotification = (objectId: string, ouraUserId: string, extra: Record<string, string> = {}): string =>
  JSON.stringify({
    event_type: "create",
    data_type: "sleep",
    object_id: objectId,
    event_time: "2025-10-02T07:30:00+00:00",
    user_id: ouraUserId,
    ...extra,
  });

/** normalize's Oura settings aimed at `fake`: its OAuth client and URLs, the callback on `normalizeUrl`. */
export function normalizeOuraEnv(fake: FakeOura, normalizeUrl: string, encryptionKey: string): Record<string, string> {
  return {
    OURA_CLIENT_ID: fake.clientId,
    OURA_CLIENT_SECRET: fake.clientSecret,
    OURA_TOKEN_ENCRYPTION_KEY: encryptionKey,
    OURA_REDIRECT_URI: `${normalizeUrl}/auth/oura/callback`,
    OURA_API_BASE_URL: fake.url,
    OURA_TOKEN_URL: `${fake.url}/oauth/token`,
    OURA_AUTHORIZE_URL: `${fake.url}/oauth/authorize`,
    OURA_LINK_RETURN_URL: APP_RETURN_URL,
  };
}

/** The app's page the callback sends the browser to; tests read its query and play the app's backend themselves. */
export const APP_RETURN_URL = "https://app.example/settings/oura?from=oura";

export async function startFakeOura(): Promise<FakeOura> {
  const codes = new Map<string, Grant>();
  const access = new Map<string, string>();
  const refresh = new Map<string, string>();
  const scripted = new Map<string, { status: number; headers?: Record<string, string>; body?: unknown }[]>();
  const fake: FakeOura = {
    url: "",
    clientId: "fake-client-id",
    clientSecret: "fake-client-secret",
    requests: [],
    sleep: new Map(),
    subscriptions: new Map(),
    nextOuraUserId: "oura-user-1",
    issued: [],
    revoked: [],
    script: (path, answer) => scripted.set(path, [...(scripted.get(path) ?? []), answer]),
    expireAccessToken: (t) => void access.delete(t),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const issue = (ouraUserId: string, grant: string) => {
    const pair = { accessToken: token("at"), refreshToken: token("rt"), ouraUserId, grant };
    access.set(pair.accessToken, ouraUserId);
    refresh.set(pair.refreshToken, ouraUserId);
    fake.issued.push(pair);
    return {
      access_token: pair.accessToken,
      refresh_token: pair.refreshToken,
      expires_in: 86_400,
      token_type: "bearer",
      scope: "personal daily",
    };
  };

  function authorize(url: URL, res: ServerResponse) {
    const p = url.searchParams;
    if (p.get("client_id") !== fake.clientId || p.get("response_type") !== "code")
      return json(res, 400, { error: "invalid_request" });
    const code = token("code");
    codes.set(code, {
      ouraUserId: fake.nextOuraUserId,
      challenge: p.get("code_challenge") ?? "",
      method: p.get("code_challenge_method") ?? "",
      redirectUri: p.get("redirect_uri") ?? "",
    });
    const back = new URL(p.get("redirect_uri") ?? "");
    back.searchParams.set("code", code);
    back.searchParams.set("state", p.get("state") ?? "");
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  function tokenGrant(form: Record<string, string>, res: ServerResponse) {
    if (form.client_id !== fake.clientId || form.client_secret !== fake.clientSecret)
      return json(res, 401, { error: "invalid_client" });
    if (form.grant_type === "authorization_code") {
      const grant = codes.get(form.code ?? "");
      codes.delete(form.code ?? "");
      const pkceOk = grant?.method === "S256" && s256(form.code_verifier ?? "") === grant.challenge;
      if (!grant || !pkceOk || grant.redirectUri !== form.redirect_uri)
        return json(res, 400, { error: "invalid_grant" });
      return json(res, 200, issue(grant.ouraUserId, "authorization_code"));
    }
    const owner = refresh.get(form.refresh_token ?? "");
    refresh.delete(form.refresh_token ?? "");
    if (form.grant_type !== "refresh_token" || !owner) return json(res, 400, { error: "invalid_grant" });
    return json(res, 200, issue(owner, "refresh_token"));
  }

  function userCollection(path: string, req: IncomingMessage, res: ServerResponse) {
    const user = access.get((req.headers.authorization ?? "").replace(/^Bearer /, ""));
    if (!user) return json(res, 401, { detail: "Unauthorized" });
    if (path === "/v2/usercollection/personal_info") return json(res, 200, { id: user, age: 30, email: null });
    const doc = fake.sleep.get(decodeURIComponent(path.replace("/v2/usercollection/sleep/", "")));
    return doc ? json(res, 200, doc) : json(res, 404, { detail: "Document not found" });
  }

  async function subscriptions(req: IncomingMessage, path: string, body: string, res: ServerResponse) {
    if (req.headers["x-client-id"] !== fake.clientId || req.headers["x-client-secret"] !== fake.clientSecret)
      return json(res, 403, { detail: "Forbidden" });
    const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
    if (req.method === "GET") return json(res, 200, [...fake.subscriptions.values()]);
    if (req.method === "PUT") {
      const sub = fake.subscriptions.get(path.split("/").at(-1) ?? "");
      if (!sub) return json(res, 404, { detail: "Not found" });
      sub.expiration_time = inDays(90);
      return json(res, 200, sub);
    }
    const request = JSON.parse(body) as Record<string, string>;
    const challenge = token("challenge");
    const handshake = new URL(request.callback_url ?? "");
    handshake.searchParams.set("verification_token", request.verification_token ?? "");
    handshake.searchParams.set("challenge", challenge);
    const answer = await fetch(handshake).then(
      async (r) => (r.ok ? ((await r.json()) as { challenge?: string }) : undefined),
      () => undefined,
    );
    if (answer?.challenge !== challenge) return json(res, 422, { detail: "callback verification failed" });
    const sub = {
      id: token("sub"),
      callback_url: request.callback_url,
      event_type: request.event_type,
      data_type: request.data_type,
      expiration_time: inDays(30),
    };
    fake.subscriptions.set(sub.id, sub);
    return json(res, 201, sub);
  }

  // Oura's revocation: the access token's grant ends (its refresh tokens too); an unknown token is a 400.
  function revoke(url: URL, res: ServerResponse) {
    const accessToken = url.searchParams.get("access_token") ?? "";
    const ouraUserId = access.get(accessToken);
    if (ouraUserId === undefined) return json(res, 400, { detail: "invalid token" });
    access.delete(accessToken);
    for (const [t, owner] of refresh) if (owner === ouraUserId) refresh.delete(t);
    fake.revoked.push(accessToken);
    res.writeHead(200).end();
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://fake");
    const body = await readBody(req);
    const form = req.headers["content-type"]?.startsWith("application/x-www-form-urlencoded")
      ? Object.fromEntries(new URLSearchParams(body))
      : undefined;
    fake.requests.push({
      method: req.method ?? "",
      path: url.pathname,
      at: Date.now(),
      headers: req.headers,
      ...(form ? { form } : {}),
    });
    const queued = scripted.get(url.pathname)?.shift();
    if (queued) return json(res, queued.status, queued.body ?? {}, queued.headers);
    if (url.pathname === "/oauth/authorize") return authorize(url, res);
    if (url.pathname === "/oauth/token" && req.method === "POST") return tokenGrant(form ?? {}, res);
    if (url.pathname === "/oauth/revoke") return revoke(url, res);
    if (url.pathname.startsWith("/v2/usercollection/")) return userCollection(url.pathname, req, res);
    if (url.pathname.startsWith("/v2/webhook/subscription")) return subscriptions(req, url.pathname, body, res);
    return json(res, 404, { detail: "Not found" });
  }

  const server: Server = createServer(
    (req, res) => void route(req, res).catch((error: unknown) => json(res, 500, { detail: String(error) })),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
