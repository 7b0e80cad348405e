import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { explainConnectFailure, NatsConnectError } from "./nats-failure.js";
import { natsConnectionOptions, type NatsSecurity } from "./nats-security.js";

export type { NatsConnection };

export interface NatsConnectOptions {
  /** Comma-separated server URLs, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** Connection name shown by the server's monitoring. */
  name: string;
  logger: Logger;
  /** Initial connect budget before giving up at startup, in ms (default 10 s). */
  connectTimeoutMs?: number;
  /** Credentials, TLS and inbox prefix, as the process's config decided them (`natsSecurityFromEnv`). */
  security: NatsSecurity;
}

export type NatsLinkState = "connected" | "reconnecting" | "closed";

/** Connection state as the health endpoints report it. */
export interface NatsLink {
  nc: NatsConnection;
  state(): NatsLinkState;
}

/**
 * Connects with unlimited reconnects: the client's default budget gives up after
 * about 20 s of outage and a consume() loop would then end silently. The first connect is
 * tried once per server: a refused connection, rejected credentials or an untrusted
 * certificate throw a NatsConnectError at once (naming the NATS_* variables to set) instead
 * of retrying forever. Once connected, the client gives up only when the server rejects the
 * credentials twice in a row.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLink> {
  const servers = options.url.split(",").map((s) => s.trim());
  const { security } = options;
  const connectionOptions = natsConnectionOptions(security, servers);
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  let nc: NatsConnection;
  try {
    // noAsyncTraces: otherwise every request (each PubAck) captures an Error stack up front, for
    // the rare failure: 16 % of ingest's CPU under load. Errors keep their own stacks.
    nc = await connect({
      ...connectionOptions,
      servers,
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      timeout: timeoutMs,
      waitOnFirstConnect: false,
      noAsyncTraces: true,
    });
  } catch (error) {
    const reason = explainConnectFailure(error, {
      security,
      tlsRequested: connectionOptions.tls !== undefined,
      timeoutMs,
    });
    throw new NatsConnectError(options.url, reason, { cause: error });
  }
  options.logger.info(`[nats] Connected to ${nc.getServer()} with ${security.description}`);
  let state: NatsLinkState = "connected";
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        state = "reconnecting";
        options.logger.warn({ server: status.server }, "NATS connection lost; reconnecting");
      } else if (status.type === "reconnect") {
        state = "connected";
        options.logger.info({ server: status.server }, "NATS connection re-established");
      }
    }
  })();
  void nc.closed().then(() => {
    state = "closed";
  });
  return { nc, state: () => state };
}
