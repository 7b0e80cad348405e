import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from "@nats-io/jetstream";
import { millis, nanos } from "@nats-io/nats-core";
import type { ConsumerSpec, StreamSpec } from "./spec.js";

/**
 * The exact JetStream API fields we send. `num_replicas` (not `replicas`) is the
 * server's field name: the first implementation sent the wrong one and R3 never applied.
 */
export function toStreamConfig(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    description: spec.description,
    subjects: [...spec.subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(spec.maxAgeMs),
    duplicate_window: nanos(spec.duplicateWindowMs),
    num_replicas: spec.replicas,
  };
}

export function toConsumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: spec.durable,
    description: spec.description,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_deliver: spec.maxDeliver,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
  };
}

/** A stream as the server has it, in the spec's terms (the inverse of `toStreamConfig` on the fields it sends). */
export function fromStreamConfig(config: Partial<StreamConfig> & { name: string }): StreamSpec {
  return {
    name: config.name,
    description: config.description ?? "",
    subjects: [...(config.subjects ?? [])],
    maxAgeMs: millis(config.max_age ?? 0),
    duplicateWindowMs: millis(config.duplicate_window ?? 0),
    replicas: config.num_replicas ?? 1,
  };
}
