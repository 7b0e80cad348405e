import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { nkeys } from "@nats-io/nats-core";

const run = promisify(execFile);

/** A temporary directory for keys and certificates, removed by `remove()`. */
export async function secretsDir(): Promise<{
  dir: string;
  write(name: string, content: string | Uint8Array): Promise<string>;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "aa-natssec-"));
  return {
    dir,
    async write(name, content) {
      const path = join(dir, name);
      await writeFile(path, content, { mode: 0o600 });
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A user NKey: the server config holds `publicKey`, the client the seed. */
export function userNkey(): { publicKey: string; seed: string } {
  const kp = nkeys.createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

// ---- TLS: a CA, a server certificate for 127.0.0.1/localhost, client certificates (openssl) ----

export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed neither the server's nor our client certificate. */
  otherCa: string;
  /** A client certificate signed by `otherCa`, which the server does not trust. */
  foreignClientCert: string;
  foreignClientKey: string;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function selfSignedCa(dir: string, name: string): Promise<void> {
  await run("openssl", [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    join(dir, `${name}-key.pem`),
    "-out",
    join(dir, `${name}.pem`),
    "-days",
    "2",
    "-subj",
    `/CN=aa test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
}

/** A random positive 127-bit serial: certificates are signed concurrently, so no shared `-CAcreateserial` file (two writers corrupt it). */
function randomSerial(): string {
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  return `0x${serial.toString("hex")}`;
}

async function signedCertificate(dir: string, name: string, ca: string, extensions: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await run("openssl", [
    "req",
    ...EC_KEY,
    "-keyout",
    join(dir, `${name}-key.pem`),
    "-out",
    join(dir, `${name}.csr`),
    "-subj",
    `/CN=aa test ${name}`,
  ]);
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    join(dir, `${name}.csr`),
    "-CA",
    join(dir, `${ca}.pem`),
    "-CAkey",
    join(dir, `${ca}-key.pem`),
    "-set_serial",
    randomSerial(),
    "-days",
    "2",
    "-out",
    join(dir, `${name}.pem`),
    "-extfile",
    join(dir, `${name}.ext`),
  ]);
}

/** Generates every certificate a mutual-TLS test needs into `dir` (about 0.1 s). */
export async function createTlsFiles(dir: string): Promise<TlsFiles> {
  await Promise.all([selfSignedCa(dir, "ca"), selfSignedCa(dir, "other-ca")]);
  await Promise.all([
    signedCertificate(dir, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
    signedCertificate(dir, "client", "ca", "extendedKeyUsage=clientAuth\n"),
    signedCertificate(dir, "foreign-client", "other-ca", "extendedKeyUsage=clientAuth\n"),
  ]);
  const file = (name: string) => join(dir, name);
  return {
    ca: file("ca.pem"),
    serverCert: file("server.pem"),
    serverKey: file("server-key.pem"),
    clientCert: file("client.pem"),
    clientKey: file("client-key.pem"),
    otherCa: file("other-ca.pem"),
    foreignClientCert: file("foreign-client.pem"),
    foreignClientKey: file("foreign-client-key.pem"),
  };
}

/** The server's `tls` block: TLS required, and with `verify` a client certificate signed by `ca` too. */
export const tlsBlock = (files: TlsFiles, verify: boolean): string =>
  `tls { cert_file: "${files.serverCert}", key_file: "${files.serverKey}", ca_file: "${files.ca}", verify: ${verify}, timeout: 2 }`;

// ---- Decentralized auth: operator, accounts and users as signed JWTs (nats-server resolver: MEMORY) ----

type KeyPair = ReturnType<typeof nkeys.createUser>;

/**
 * A NATS JWT (header, claims, ed25519 signature of both, base64url) as nats-server 2.9 verifies it.
 * The official encoder (@nats-io/jwt) is 0.0.x; the format is small enough to write out here.
 */
function encodeJwt(name: string, subject: string, issuer: KeyPair, nats: Record<string, unknown>): string {
  const segment = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = {
    name,
    sub: subject,
    iss: issuer.getPublicKey(),
    iat: Math.floor(Date.now() / 1000),
    nats: { ...nats, version: 2 },
  };
  const jti = createHash("sha256").update(JSON.stringify(claims)).digest("base64url");
  const unsigned = `${segment({ typ: "JWT", alg: "ed25519-nkey" })}.${segment({ jti, ...claims })}`;
  return `${unsigned}.${Buffer.from(issuer.sign(Buffer.from(unsigned))).toString("base64url")}`;
}

const UNLIMITED_ACCOUNT = {
  subs: -1,
  conn: -1,
  leaf: -1,
  imports: -1,
  exports: -1,
  data: -1,
  payload: -1,
  wildcards: true,
};
const UNLIMITED_JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

/** The `.creds` file format `nsc` writes: the user JWT, then its seed. */
const credsFile = (jwt: string, user: KeyPair): string =>
  `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(user.getSeed())}\n------END USER NKEY SEED------\n`;

export interface Operator {
  /** The server config: trusted operator, system account, and the accounts preloaded into the memory resolver. */
  config: string;
  /** A `.creds` file's content for a new user of the application account (JetStream enabled). */
  userCreds(name: string): string;
  /** A `.creds` file's content for a user of an account this server does not know. */
  strangerCreds(name: string): string;
}

/** An operator with a system account and one application account with JetStream. */
export function createOperator(): Operator {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const app = nkeys.createAccount();
  const accountJwt = (name: string, account: KeyPair, limits: object) =>
    encodeJwt(name, account.getPublicKey(), operator, { type: "account", limits });
  const user = (name: string, account: KeyPair) => {
    const kp = nkeys.createUser();
    return credsFile(
      encodeJwt(name, kp.getPublicKey(), account, { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 }),
      kp,
    );
  };
  const operatorJwt = encodeJwt("aa-test", operator.getPublicKey(), operator, {
    type: "operator",
    system_account: system.getPublicKey(),
  });
  const config = [
    `operator: ${operatorJwt}`,
    `system_account: ${system.getPublicKey()}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${system.getPublicKey()}: ${accountJwt("SYS", system, UNLIMITED_ACCOUNT)}`,
    `  ${app.getPublicKey()}: ${accountJwt("APP", app, { ...UNLIMITED_ACCOUNT, ...UNLIMITED_JETSTREAM })}`,
    "}",
  ].join("\n");
  return { config, userCreds: (name) => user(name, app), strangerCreds: (name) => user(name, nkeys.createAccount()) };
}
