// Where start-local keeps its private PostgreSQL cluster (data directory, socket, log).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, lstatSync, mkdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { ClusterOwner } from "../index.js";
import { DATA, StartError } from "./common.js";

/**
 * Where the clusters of checkouts out of the postgres user's reach live: persistent state of the
 * machine (never cleaned like /tmp and /var/tmp are), one directory per checkout.
 */
export const UNREACHABLE_CHECKOUTS_HOME = "/var/lib/athlete-ally/local-pg";

export interface ClusterHome {
  /** Holds `data/` (PGDATA), the server's Unix socket and `postgres.log`. */
  dir: string;
  /** Why it is not .data/pg, for the start banner; undefined when it is. */
  why?: string;
}

/** True when `owner` may search `dir`, and so every directory above it. */
function reaches(owner: ClusterOwner, dir: string): boolean {
  return spawnSync("runuser", ["-u", owner.user, "--", "test", "-x", dir]).status === 0;
}

/** The same directory for every run of the checkout at `root`, and a different one for another checkout. */
export function checkoutKey(root: string): string {
  const path = resolve(root); // one spelling per directory: no trailing slash, no ..
  const hash = createHash("sha256").update(path).digest("hex").slice(0, 12);
  return `${basename(path).replace(/[^\w.-]+/g, "_")}-${hash}`;
}

/**
 * .data/pg in the checkout, unless we are root and the cluster's owner cannot reach the checkout (a
 * clone under /root, or in the 0700 directory `mktemp -d` makes, as CI's is): initdb would fail with
 * "could not change directory ... Permission denied". Then a directory of its own under
 * UNREACHABLE_CHECKOUTS_HOME, keyed by the checkout's path and kept across runs like .data/pg.
 */
export function clusterHome(owner: ClusterOwner | undefined, root: string): ClusterHome {
  const inCheckout = join(DATA, "pg");
  mkdirSync(DATA, { recursive: true });
  if (!owner || reaches(owner, DATA)) return { dir: inCheckout };
  mkdirSync(UNREACHABLE_CHECKOUTS_HOME, { recursive: true, mode: 0o755 });
  // Root made it: root's alone to write, so no other user can swap the cluster under us.
  const stat = lstatSync(UNREACHABLE_CHECKOUTS_HOME);
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0)
    throw new StartError(`${UNREACHABLE_CHECKOUTS_HOME} must be a directory that only root can write to`);
  const dir = join(UNREACHABLE_CHECKOUTS_HOME, checkoutKey(root));
  mkdirSync(dir, { recursive: true });
  chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
  if (!reaches(owner, dir))
    throw new StartError(`the OS user ${owner.user} cannot reach ${dir} either; give it search permission on /var/lib`);
  const why = `the OS user ${owner.user} cannot reach ${root} (a private parent directory)`;
  return { dir, why };
}
