// Types of postgres-binaries.mjs, for the TypeScript test helpers.

export declare const DEBIAN_ROOT: string;

export declare class PostgresSetupError extends Error {}

/** A directory with initdb, pg_ctl and postgres. */
export interface PostgresCandidate {
  source: "debian" | "embedded";
  dir: string;
  major: number;
  /** Where they come from, for messages: Debian's bin directory or the platform package and its version. */
  label: string;
}

export interface PostgresBinaries extends PostgresCandidate {
  /** As `postgres --version` says it, e.g. "15.18" or "15.20 (Debian 15.20-0+deb12u1)". */
  version: string;
}

/** The OS user that runs a cluster when we are root (PostgreSQL refuses root). */
export interface ClusterOwner {
  user: string;
  uid: number;
  gid: number;
}

export declare function debianCandidates(root?: string): PostgresCandidate[];
export declare function embeddedCandidate():
  (PostgresCandidate & { packageDir: string; missing?: undefined }) | { missing: string };
export declare function postgresCandidates(options?: { debianRoot?: string }): {
  candidates: PostgresCandidate[];
  embeddedMissing: string | undefined;
};
export declare function clusterOwner(): ClusterOwner | undefined;
export declare function ownerCommand(owner: ClusterOwner | undefined, bin: string, args: string[]): [string, string[]];
export declare function findPostgresBinaries(options?: {
  debianRoot?: string;
  /** Only binaries of this major version (an existing data directory's). */
  major?: number;
  owner?: ClusterOwner;
}): PostgresBinaries;
export declare function findPsql(options?: { debianRoot?: string }): string | undefined;
export declare function dataDirectoryMajor(pgdata: string): number | undefined;
