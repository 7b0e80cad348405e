import { ConfigError } from "@aa/service-kit";

export type AuthMethod = "api-key" | "jwt";

/** How `/ingest/*` requests authenticate: the accepted methods, none for `INGEST_AUTH_MODE=none`. */
export interface AuthSettings {
  methods: ReadonlySet<AuthMethod>;
  jwt: JwtSettings | undefined;
}

export interface JwtSettings {
  issuer: string;
  audience: string;
  key: { kind: "hs256"; secret: string } | { kind: "jwks-file"; path: string } | { kind: "jwks-url"; url: string };
}

/** The env vars authentication is decided from, as the ingest config schema loaded them. */
export interface AuthEnv {
  INGEST_AUTH_MODE: string;
  INGEST_JWT_ISSUER?: string;
  INGEST_JWT_AUDIENCE?: string;
  INGEST_JWT_SECRET?: string;
  INGEST_JWT_JWKS_FILE?: string;
  INGEST_JWT_JWKS_URL?: string;
}

const METHODS: readonly AuthMethod[] = ["api-key", "jwt"];
// With a tenant of at most 128 characters, a source `jwt:<issuer>#<tenant>` fits the 256 an event's source may have.
const MAX_ISSUER_LENGTH = 120;

/** Reads INGEST_AUTH_MODE and INGEST_JWT_*; every inconsistency is a ConfigError that says what to set. */
export function authSettingsOf(config: AuthEnv): AuthSettings {
  const raw = config.INGEST_AUTH_MODE.trim().toLowerCase();
  const jwtVars = (
    [
      "INGEST_JWT_ISSUER",
      "INGEST_JWT_AUDIENCE",
      "INGEST_JWT_SECRET",
      "INGEST_JWT_JWKS_FILE",
      "INGEST_JWT_JWKS_URL",
    ] as const
  ).filter((name) => config[name] !== undefined);
  if (raw === "none") return { methods: new Set(), jwt: undefined };
  const names = raw.split(",").map((m) => m.trim());
  const unknown = names.filter((m) => !METHODS.includes(m as AuthMethod));
  if (unknown.length > 0 || names.length === 0) {
    throw new ConfigError([
      `INGEST_AUTH_MODE must be api-key, jwt, api-key,jwt or none, got ${JSON.stringify(config.INGEST_AUTH_MODE)}`,
    ]);
  }
  const methods = new Set(names as AuthMethod[]);
  if (!methods.has("jwt")) {
    if (jwtVars.length > 0)
      throw new ConfigError([
        `${jwtVars.join(", ")} set but INGEST_AUTH_MODE=${raw} does not accept JWTs: ` +
          `set INGEST_AUTH_MODE=${[...methods, "jwt"].join(",")} or unset them`,
      ]);
    return { methods, jwt: undefined };
  }
  return { methods, jwt: jwtSettingsOf(config) };
}

function jwtSettingsOf(config: AuthEnv): JwtSettings {
  const problems: string[] = [];
  if (config.INGEST_JWT_ISSUER === undefined)
    problems.push("INGEST_JWT_ISSUER must be set when INGEST_AUTH_MODE accepts jwt (the `iss` every token must carry)");
  else if (config.INGEST_JWT_ISSUER.length > MAX_ISSUER_LENGTH)
    problems.push(
      `INGEST_JWT_ISSUER must be at most ${MAX_ISSUER_LENGTH} characters: it is part of every reading's source ` +
        "(jwt:<issuer>#<tenant>, at most 256)",
    );
  if (config.INGEST_JWT_AUDIENCE === undefined)
    problems.push(
      "INGEST_JWT_AUDIENCE must be set when INGEST_AUTH_MODE accepts jwt (the `aud` every token must carry)",
    );
  const keys = [
    config.INGEST_JWT_SECRET === undefined ? undefined : ({ kind: "hs256", secret: config.INGEST_JWT_SECRET } as const),
    config.INGEST_JWT_JWKS_FILE === undefined
      ? undefined
      : ({ kind: "jwks-file", path: config.INGEST_JWT_JWKS_FILE } as const),
    config.INGEST_JWT_JWKS_URL === undefined
      ? undefined
      : ({ kind: "jwks-url", url: config.INGEST_JWT_JWKS_URL } as const),
  ].filter((k) => k !== undefined);
  const jwksUrl = config.INGEST_JWT_JWKS_URL;
  if (jwksUrl !== undefined && !fetchedSafely(jwksUrl)) {
    problems.push(
      "INGEST_JWT_JWKS_URL must be an https:// URL (a key set fetched over plain http can be swapped in transit, " +
        "and with it who may sign tokens); http:// is accepted for loopback only (127.0.0.1, [::1], localhost)",
    );
  }
  if (keys.length !== 1)
    problems.push(
      `set exactly one of INGEST_JWT_SECRET (HS256), INGEST_JWT_JWKS_FILE or INGEST_JWT_JWKS_URL ` +
        `(RS256/ES256), got ${keys.length}`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return { issuer: config.INGEST_JWT_ISSUER as string, audience: config.INGEST_JWT_AUDIENCE as string, key: keys[0]! };
}

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]"]);

/** https, or http to this machine (tests, a sidecar); never quotes the URL, which may carry credentials. */
function fetchedSafely(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const { protocol, hostname } = new URL(url);
  if (protocol === "https:") return true;
  return protocol === "http:" && (LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname));
}
