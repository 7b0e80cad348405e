// The public surface: exactly what services, tools/ops, bench and tests import. Anything not listed here
// (tracing, header propagation, publish/consume internals) is an implementation detail of this package.

// Errors callers throw or catch.
export {
  ConsumerBindingError,
  NonRetryableError,
  PublishError,
  RetryAfterError,
  StreamModeError,
  TransientError,
} from "./errors.js";

// Stream mode and subject patterns.
export { describeStreamMode, parseStreamMode, type StreamMode } from "./mode.js";
export { coveringPattern, patternCovers, patternsOverlap } from "./subjects.js";

// Publishing.
export { EventPublisher, type PublishRequest } from "./publisher.js";
export { BatchPublisher } from "./publish-batch.js";

// Consuming: the durable consumer runtime, its retry budget and binding check.
export { DurableConsumer, type BindingProgress } from "./consumer/runtime.js";
export { type MessageHandler } from "./consumer/routing.js";
export { retryDelayMs } from "./consumer/retry.js";
export {
  classifyBindings,
  resolveBindings,
  type Binding,
  type BindingNote,
  type BindingScope,
  type StreamObservation,
} from "./consumer/binding.js";

// Process startup: settings, stream management, metrics.
export { eventBusSettings, manageStreams, type EventBusSettings } from "./startup.js";
export { recordStreamMode } from "./metrics.js";

// Dead letters: headers, reasons, advisories and the depth gauge.
export { DlqHeaders, DlqReasons, TRACE_HEADERS } from "./dlq.js";
export {
  DLQ_AUDIT_PREFIX,
  MAX_DELIVERIES_ADVISORY,
  MSG_TERMINATED_ADVISORY,
  type DlqAuditRecord,
} from "./dlq-advisories.js";
export { startDlqDepthRefresher } from "./dlq-depth.js";

// Topology as data: spec → plan → apply.
export {
  DEFAULT_TOPOLOGY_NAMES,
  DUPLICATE_WINDOW_MS,
  consumerSpecs,
  otherModeStreams,
  streamCandidates,
  topologyFor,
  topologyNamesFromEnv,
  type ConsumerSpec,
  type StreamSpec,
  type Topology,
  type TopologyNames,
} from "./topology/spec.js";
export { toConsumerConfig, toStreamConfig } from "./topology/server-config.js";
export {
  diffConsumer,
  diffStream,
  owningStream,
  planTopology,
  subjectsChange,
  type ChangeKind,
  type ConsumerChange,
  type CurrentTopology,
  type StreamChange,
  type TopologyPlan,
} from "./topology/diff.js";
export {
  applyPlan,
  consumerCall,
  ifExists,
  isNotFound,
  readTopology,
  streamCall,
  unfinished,
  type ApiCall,
  type ApplyResult,
  type ChangeOutcome,
} from "./topology/apply.js";
