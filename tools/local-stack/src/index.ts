// Private servers for `npm start` (src/start-local.ts) and the tests (test/helpers): free ports,
// nats-server, PostgreSQL binaries and cluster commands, and one polling wait.
export { PostgresSetupError, SetupError } from "./errors.js";
export { waitFor, type WaitOptions } from "./wait.js";
export { answers, firstFreePort, freePort, portFree, type AnswersOptions } from "./ports.js";
export { natsAnswers, spawnNatsServer, type NatsServerOptions } from "./nats-server.js";
export {
  DEBIAN_ROOT,
  clusterOwner,
  dataDirectoryMajor,
  debianCandidates,
  embeddedCandidate,
  findPostgresBinaries,
  findPsql,
  ownerCommand,
  postgresCandidates,
  reachableCopy,
  type ClusterOwner,
  type PostgresBinaries,
  type PostgresCandidate,
} from "./postgres-binaries.js";
export { initdbArgs, runPostgresProgram, serverOptions } from "./cluster.js";
