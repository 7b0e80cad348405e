import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { OpsError } from "./errors.js";

/** The stream and consumer a request named, for a readable "not found". */
export interface Target {
  stream: string;
  consumer?: string;
}

function notFoundMessage(error: unknown, target: Target): string | undefined {
  if (!(error instanceof JetStreamApiError)) return undefined;
  if (error.code === JetStreamApiCodes.StreamNotFound) return `stream ${target.stream} not found`;
  if (error.code === JetStreamApiCodes.ConsumerNotFound)
    return `consumer ${target.consumer ?? "?"} not found on stream ${target.stream}`;
  return undefined;
}

/** Awaits a JetStream request, turning "stream/consumer not found" into a one-line OpsError (code NOT_FOUND). */
export async function request<T>(promise: Promise<T>, target: Target): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    const message = notFoundMessage(error, target);
    throw message === undefined ? error : new OpsError(message, "NOT_FOUND", { cause: error });
  }
}

/** Collects an async listing (such as `jsm.streams.list()`). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
