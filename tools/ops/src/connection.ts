import {
  ConfigError,
  connectNats,
  createLogger,
  natsSecurityFromEnv,
  type NatsConnection,
  type NatsSecurity,
} from "@aa/service-kit";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { errorMessage, type Writer } from "./output.js";
import type { OpsEnv } from "./settings.js";

/** An open connection with its JetStream manager; `close()` drains it. */
export interface OpsConnection {
  nc: NatsConnection;
  jsm: JetStreamManager;
  close(): Promise<void>;
}

// An operator waiting at a terminal wants a fast, plain failure, not a service's patience.
const CONNECT_TIMEOUT_MS = 5_000;

/** The NATS_* credentials and TLS settings, or one line naming every bad variable. */
function securityOf(env: OpsEnv, write: Writer): NatsSecurity | undefined {
  try {
    return natsSecurityFromEnv(env);
  } catch (error) {
    const problems = error instanceof ConfigError ? error.problems : [errorMessage(error)];
    write(`❌ Invalid NATS connection settings: ${problems.join("; ")}`);
    return undefined;
  }
}

/**
 * Connects with the NATS_* credentials and TLS settings of `env` and checks JetStream; on
 * failure writes one line naming the URL and returns undefined, so the caller can exit 1
 * without a stack trace.
 */
export async function openJetStream(
  url: string,
  env: OpsEnv,
  name: string,
  write: Writer,
): Promise<OpsConnection | undefined> {
  const security = securityOf(env, write);
  if (security === undefined) return undefined;
  let nc: NatsConnection;
  try {
    const logger = createLogger({ service: name, level: "silent" });
    nc = (await connectNats({ url, name, logger, security, connectTimeoutMs: CONNECT_TIMEOUT_MS })).nc;
  } catch (error) {
    write(`❌ ${errorMessage(error)}`);
    return undefined;
  }
  try {
    const jsm = await jetstreamManager(nc);
    // A drain fails while the server is down; close then, or the reconnect loop keeps the CLI alive forever.
    return { nc, jsm, close: () => nc.drain().catch(() => nc.close()) };
  } catch (error) {
    write(`❌ JetStream is not available at ${url}: ${errorMessage(error)}`);
    await nc.close();
    return undefined;
  }
}
