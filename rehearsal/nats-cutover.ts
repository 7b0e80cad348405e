import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { freePort, natsAnswers } from "@aa/local-stack";
import { createTlsFiles, secretsDir, userNkey, type TlsFiles } from "../test/helpers/nats-auth.js";
import { waitFor } from "../test/helpers/wait.js";

const DEPLOY_NATS = fileURLToPath(new URL("../deploy/nats/", import.meta.url));

export type Component = "ingest" | "normalize" | "ops";
export type NatsPhase = "legacy" | "transition" | "final";

/** The rehearsal's nats-server and what each component needs to log in, per cutover phase. */
export interface CutoverNats {
  server: ConfiguredNats;
  tls: TlsFiles;
  phase(): NatsPhase;
  /**
   * Installs deploy/nats's file for the phase as an operator would, then: the transition restarts the
   * server (nats-server 2.9.10 refuses to reload a new no_auth_user: "config reload not supported for
   * NoAuthUser"), the final phase reloads it (SIGHUP). Resolves once the server runs the new config.
   */
  reload(phase: Exclude<NatsPhase, "legacy">): Promise<void>;
  /** NATS_* env of a component: NKey over nats:// in the transition, plus TLS and its certificate once final. */
  env(component: Component, phase?: NatsPhase): Record<string, string>;
  remove(): Promise<void>;
}

const AUTH_INCLUDE: Record<NatsPhase, string> = {
  legacy: "# 1.0: no authorization, no TLS",
  transition: "include ./auth-transition.conf",
  final: "include ./auth-final.conf",
};

// The server's own settings stay in its config through every phase, as in production: a reload of a
// config without the jetstream block shuts JetStream down (measured on 2.9.10), whatever the flags said.
const mainConfig = (phase: NatsPhase, dir: string) =>
  `jetstream { store_dir: "${join(dir, "store")}" }\n${AUTH_INCLUDE[phase]}\n`;

/**
 * A nats-server whose whole configuration is its config file (test/helpers/nats.ts passes the store as a
 * flag, which a reload cannot keep: "config reload not supported for jetstream storage dir").
 */
export interface ConfiguredNats {
  url: string;
  dir: string;
  process: ChildProcess;
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  log(): Promise<string>;
}

async function startConfiguredNats(env: Record<string, string>): Promise<ConfiguredNats> {
  const dir = await mkdtemp(join(tmpdir(), "aa-rehearsal-nats-"));
  const port = await freePort();
  await writeFile(join(dir, "nats-server.conf"), mainConfig("legacy", dir));
  const args = [
    "-c",
    join(dir, "nats-server.conf"),
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "-l",
    join(dir, "nats.log"),
  ];
  const server: ConfiguredNats = {
    url: `nats://127.0.0.1:${port}`,
    dir,
    process: undefined as unknown as ChildProcess,
    async start() {
      const child = spawn("nats-server", args, { stdio: "ignore", env: { ...process.env, ...env } });
      server.process = child;
      await waitFor(
        async () => {
          if (child.exitCode !== null)
            throw new Error(`nats-server exited with ${child.exitCode}: ${await server.log()}`);
          return natsAnswers(server.url);
        },
        { timeoutMs: 10_000, what: `nats-server on ${server.url}` },
      );
    },
    async kill(signal) {
      const child = server.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    },
    log: () => readFile(join(dir, "nats.log"), "utf8").catch(() => ""),
  };
  await server.start();
  return server;
}

/** Starts the 1.0 server (no auth, no TLS) with the keys and certificates the later phases use. */
export async function startCutoverNats(): Promise<CutoverNats> {
  const secrets = await secretsDir();
  const tls = await createTlsFiles(secrets.dir);
  const keys = { ingest: userNkey(), normalize: userNkey(), ops: userNkey() };
  const server = await startConfiguredNats({
    NATS_INGEST_NKEY: keys.ingest.publicKey,
    NATS_NORMALIZE_NKEY: keys.normalize.publicKey,
    NATS_OPS_NKEY: keys.ops.publicKey,
  });
  const seeds = {} as Record<Component, string>;
  for (const c of ["ingest", "normalize", "ops"] as const) seeds[c] = await secrets.write(`${c}.nk`, keys[c].seed);
  let current: NatsPhase = "legacy";
  const install = async (name: string) => {
    const text = await readFile(join(DEPLOY_NATS, name), "utf8");
    await writeFile(join(server.dir, name), text.replaceAll("/etc/nats/tls/", `${secrets.dir}/`));
  };
  return {
    server,
    tls,
    phase: () => current,
    async reload(phase) {
      await install("permissions.conf");
      await install(`auth-${phase}.conf`);
      await writeFile(join(server.dir, "nats-server.conf"), mainConfig(phase, server.dir));
      const reloads = (await server.log()).split("Reloaded server configuration").length;
      if (phase === "transition") {
        await server.kill("SIGTERM");
        await server.start();
        current = phase;
        return;
      }
      server.process.kill("SIGHUP");
      await waitFor(
        async () => {
          const log = await server.log();
          const refused = log
            .split("\n")
            .find((line, i, all) => i >= all.length - 5 && line.includes("Failed to reload"));
          if (refused) throw new Error(`nats-server refused auth-${phase}.conf: ${refused}`);
          return log.split("Reloaded server configuration").length > reloads;
        },
        {
          timeoutMs: 10_000,
          what: `nats-server reloaded with auth-${phase}.conf`,
        },
      );
      current = phase;
    },
    env(component, phase = current) {
      const url = phase === "final" ? server.url.replace("nats://", "tls://") : server.url;
      if (phase === "legacy") return { NATS_URL: url };
      const login = { NATS_URL: url, NATS_NKEY_SEED_FILE: seeds[component], NATS_INBOX_PREFIX: `_INBOX_${component}` };
      if (phase === "transition") return login;
      return {
        ...login,
        NATS_TLS_CA_FILE: tls.ca,
        NATS_TLS_CERT_FILE: tls.clientCert,
        NATS_TLS_KEY_FILE: tls.clientKey,
      };
    },
    async remove() {
      await server.kill("SIGTERM");
      await rm(server.dir, { recursive: true, force: true });
      await secrets.remove();
    },
  };
}
