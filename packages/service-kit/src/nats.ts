import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";

export type { NatsConnection };

export interface NatsConnectOptions {
  /** Comma-separated server URLs, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** Connection name shown by the server's monitoring. */
  name: string;
  logger: Logger;
  /** Initial connect budget before giving up at startup, in ms (default 10 s). */
  connectTimeoutMs?: number;
}

export type NatsLinkState = "connected" | "reconnecting" | "closed";

/** Connection state as the health endpoints report it. */
export interface NatsLink {
  nc: NatsConnection;
  state(): NatsLinkState;
}

/**
 * Connects with unlimited reconnects: the client's default budget gives up after
 * about 20 s of outage and a consume() loop would then end silently.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLink> {
  const nc = await connect({
    servers: options.url.split(",").map((s) => s.trim()),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    timeout: options.connectTimeoutMs ?? 10_000,
    waitOnFirstConnect: false,
  });
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
