import { connect, type Socket } from "node:net";

/** A plain TCP connection to 127.0.0.1:`port`, for requests fetch cannot send (a head now, the body later or never). */
export async function openSocket(port: number): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return socket;
}

/** The head of an HTTP/1.1 JSON POST declaring `length` body bytes (`extraHeaders`: complete lines, each ending in \r\n). */
export const rawPost = (path: string, length: number, extraHeaders = "") =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extraHeaders}\r\n`;

/** Everything the server sends on `socket` until it goes quiet for `quietMs` or closes; `closed` says which. */
export function readResponses(socket: Socket, quietMs = 300): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = "";
    let timer = setTimeout(done, quietMs);
    function done(closed = false) {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      resolve({ text, closed });
    }
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    });
    socket.once("close", () => done(true));
    socket.once("error", () => done(true));
  });
}
