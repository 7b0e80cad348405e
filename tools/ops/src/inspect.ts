import type { ConsumerInfo, JetStreamManager, StoredMsg, StreamInfo } from "@nats-io/jetstream";
import { OpsError } from "./errors.js";
import { collect, request } from "./jetstream.js";
import { headerRecord } from "./output.js";

// What `stream` and `consumer` show: the server's own objects, sorted by name; "not found" as one line.

export async function listStreams(jsm: JetStreamManager): Promise<StreamInfo[]> {
  return (await collect(jsm.streams.list())).sort((a, b) => a.config.name.localeCompare(b.config.name));
}

export const streamInfo = (jsm: JetStreamManager, stream: string): Promise<StreamInfo> =>
  request(jsm.streams.info(stream), { stream });

/** The JSON form of one stored message; `data` is the payload as UTF-8 text. */
export interface StoredMessageJson {
  subject: string;
  seq: number;
  time: string;
  /** Repeated values of a header joined with ", ". */
  headers: Record<string, string>;
  data: string;
}

export function storedMessageJson(msg: StoredMsg): StoredMessageJson {
  return {
    subject: msg.subject,
    seq: msg.seq,
    time: msg.timestamp,
    headers: headerRecord(msg.header),
    data: new TextDecoder().decode(msg.data),
  };
}

/** One stored message by sequence; an OpsError when the stream or the message is not there. */
export async function storedMessage(jsm: JetStreamManager, stream: string, seq: number): Promise<StoredMessageJson> {
  const msg = await request(jsm.streams.getMessage(stream, { seq }), { stream });
  if (msg === null) throw new OpsError(`stream ${stream} has no message with sequence ${seq}`, "NOT_FOUND");
  return storedMessageJson(msg);
}

export async function listConsumers(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  const infos = await request(collect(jsm.consumers.list(stream)), { stream });
  return infos.sort((a, b) => a.name.localeCompare(b.name));
}

export const consumerInfo = (jsm: JetStreamManager, stream: string, consumer: string): Promise<ConsumerInfo> =>
  request(jsm.consumers.info(stream, consumer), { stream, consumer });
