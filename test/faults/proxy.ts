import { connect, createServer, type Server, type Socket } from "node:net";
import { freePort } from "../helpers/nats.js";

/**
 * How the proxy treats traffic: `pass` forwards, `latency` delays each chunk by `ms` in both
 * directions, `blackhole` accepts connections and reads but forwards nothing (existing ones
 * go silent too; they are cut when the blackhole ends), `reset` destroys every socket (existing and new).
 */
export type FaultMode = { kind: "pass" } | { kind: "latency"; ms: number } | { kind: "blackhole" } | { kind: "reset" };

export interface FaultProxy {
  /** 127.0.0.1 port the service connects to. */
  port: number;
  set(mode: FaultMode): void;
  close(): Promise<void>;
}

/** A TCP proxy on a free loopback port in front of `127.0.0.1:targetPort`. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let mode: FaultMode = { kind: "pass" };
  const sockets = new Set<Socket>();
  // Sockets that lost data to a blackhole are cut when it ends: the byte stream has a gap,
  // as after a partition long enough for TCP to give up.
  const gapped = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const pipe = (from: Socket, to: Socket) =>
    from.on("data", (chunk: Buffer) => {
      const current = mode;
      if (current.kind === "blackhole") return void gapped.add(from).add(to);
      if (current.kind === "latency") setTimeout(() => to.destroyed || to.write(chunk), current.ms);
      else if (!to.destroyed) to.write(chunk);
    });
  const server: Server = createServer((client) => {
    track(client);
    if (mode.kind === "reset") return client.destroy();
    const upstream = connect(targetPort, "127.0.0.1");
    track(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    set(next) {
      mode = next;
      if (next.kind === "reset") for (const socket of sockets) socket.destroy();
      if (next.kind !== "blackhole") for (const socket of gapped) socket.destroy();
      if (next.kind !== "blackhole") gapped.clear();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
