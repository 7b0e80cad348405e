import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { toConsumerConfig, toStreamConfig, type CurrentTopology, type Topology } from "@aa/event-bus";

/** A server state for the pure planners: stream configs, and consumer configs per stream. */
export function serverState(
  streams: readonly Partial<StreamConfig>[],
  consumers: Readonly<Record<string, readonly Partial<ConsumerConfig>[]>> = {},
): CurrentTopology {
  const map = new Map<string, ConsumerConfig[]>();
  for (const stream of streams)
    map.set(stream.name ?? "", [...((consumers[stream.name ?? ""] ?? []) as ConsumerConfig[])]);
  return { streams: streams as StreamConfig[], consumers: map };
}

/** The server exactly as `desired` says: every stream, and each durable on the stream owning its subject. */
export function serverAsDesired(desired: Topology, owner: (filterSubject: string) => string): CurrentTopology {
  const consumers: Record<string, Partial<ConsumerConfig>[]> = {};
  for (const spec of desired.consumers) (consumers[owner(spec.filterSubject)] ??= []).push(toConsumerConfig(spec));
  return serverState(desired.streams.map(toStreamConfig), consumers);
}
