import { connect, createServer } from "node:net";
import { SetupError } from "./errors.js";

/** A free loopback TCP port chosen by the OS (tiny race between close and reuse; fine for tests). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when we could listen on 127.0.0.1:`port`. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer().once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** The first free port of `from` .. `from + 99`, for servers that should land on a predictable port. */
export async function firstFreePort(from: number): Promise<number> {
  for (let port = from; port < from + 100; port++) if (await portFree(port)) return port;
  throw new SetupError(`no free port in ${from}-${from + 99}`);
}

export interface AnswersOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** The first bytes the server must send, e.g. NATS's `INFO `; without it, accepting the connection is enough. */
  greeting?: string;
  /** Default 1000. */
  timeoutMs?: number;
}

/** True when host:`port` accepts a TCP connection (and greets as `greeting` says). */
export function answers(port: number, options: AnswersOptions = {}): Promise<boolean> {
  const { host = "127.0.0.1", greeting, timeoutMs = 1000 } = options;
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs }, () => greeting === undefined && done(true));
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.once("data", (chunk: Buffer) => done(greeting !== undefined && chunk.toString().startsWith(greeting)));
    socket.once("error", () => done(false)).once("timeout", () => done(false));
    socket.once("close", () => done(false));
  });
}
