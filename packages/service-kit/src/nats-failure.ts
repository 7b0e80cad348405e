import { errors } from "@nats-io/nats-core";
import { NATS_AUTH_VARS, type NatsSecurity } from "./nats-security.js";

/** The first connect failed: the message names the server, what went wrong and which NATS_* variables to set. */
export class NatsConnectError extends Error {
  readonly code = "AA_ERR_NATS_CONNECT";
  constructor(
    readonly url: string,
    reason: string,
    options: { cause: unknown },
  ) {
    super(`Cannot connect to NATS at ${url}: ${reason}`, options);
    this.name = "NatsConnectError";
  }
}

/** What the first connect attempt used, to explain its failure. */
export interface ConnectAttempt {
  security: NatsSecurity;
  /** TLS was required by NATS_TLS_* or a `tls://` URL. */
  tlsRequested: boolean;
  timeoutMs: number;
}

// Node's codes for a server certificate the client does not trust.
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
]);

const codeOf = (error: unknown): string | undefined => {
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  const found = typeof code === "string" ? code : cause?.code;
  return typeof found === "string" ? found : undefined;
};

function rejected(error: Error, security: NatsSecurity): string {
  if (security.method === "none")
    return `NATS requires credentials (${error.message}) and none were sent: set ${NATS_AUTH_VARS}`;
  return (
    `NATS rejected the credentials (${error.message}): sent ${security.description}; ` +
    `set ${NATS_AUTH_VARS} to credentials this server accepts`
  );
}

function untrusted(error: Error, security: NatsSecurity): string {
  const caFile = security.tls?.caFile;
  const fix =
    caFile === undefined
      ? "set NATS_TLS_CA_FILE to the CA certificate that signed it"
      : `NATS_TLS_CA_FILE (${caFile}) is not the CA that signed it`;
  // OpenSSL's reason alone: Node 26 appends "; if the root CA is installed locally, try running Node.js
  // with --use-system-ca", which points away from the fix here (the CA is NATS_TLS_CA_FILE's to name).
  const reason = error.message.split(";")[0];
  return `the server's TLS certificate is not trusted (${reason}): ${fix}`;
}

// A server with `verify: true` ends the TLS 1.3 session after the handshake; the client only sees no answer.
function silentAfterTls(attempt: ConnectAttempt): string {
  const seconds = attempt.timeoutMs / 1000;
  const certificate =
    attempt.security.tls?.certFile === undefined
      ? "no client certificate was sent: set NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE"
      : `check that the certificate in NATS_TLS_CERT_FILE (${attempt.security.tls.certFile}) ` +
        "is signed by a CA the server trusts";
  return (
    `no answer within ${seconds} s after the TLS handshake; a server that verifies client certificates ` +
    `(verify: true) drops a client it does not accept: ${certificate}`
  );
}

/** The reason of a failed first connect, in the operator's terms. */
export function explainConnectFailure(error: unknown, attempt: ConnectAttempt): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof errors.AuthorizationError || error instanceof errors.UserAuthenticationExpiredError)
    return rejected(error, attempt.security);
  const code = codeOf(error);
  if (code !== undefined && UNTRUSTED.has(code)) return untrusted(error, attempt.security);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return (
      `the server's TLS certificate does not name this host (${error.message}): ` +
      "connect with a host name or address the certificate lists"
    );
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID")
    return `the server's TLS certificate is not valid now (${error.message})`;
  if (error.message.includes("does not support 'tls'"))
    return (
      "the server does not offer TLS, but NATS_TLS_* or a tls:// URL requires it: " +
      "enable TLS on the server, or unset NATS_TLS_* and use nats://"
    );
  if (error instanceof errors.TimeoutError && attempt.tlsRequested) return silentAfterTls(attempt);
  return error.message;
}
