import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** README.md and every Markdown file under docs/, as paths relative to the repository root. */
function markdownFiles(): string[] {
  const found = ["README.md"];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const path = join(dir, name);
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith(".md")) found.push(path);
    }
  };
  walk("docs");
  return found;
}

/** The text outside fenced code blocks: a `](x)` inside an example is not a link. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, "");
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(text).matchAll(/^#{1,6} +(.+?) *$/gm)) {
    const base = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

/** Every relative link of one file that names no existing file, or no heading of the target. */
function brokenLinks(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const broken: string[] = [];
  for (const [, url] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z][a-z+.-]*:/i.test(url!)) continue;
    const [path, fragment] = url!.split("#", 2) as [string, string | undefined];
    const target = path === "" ? file : normalize(join(dirname(file), path));
    if (relative(ROOT, join(ROOT, target)).startsWith("..") || !existsSync(join(ROOT, target))) {
      broken.push(`${file}: ${url} (no such file)`);
    } else if (fragment && target.endsWith(".md") && !anchors(readFileSync(join(ROOT, target), "utf8")).has(fragment)) {
      broken.push(`${file}: ${url} (no such heading in ${target})`);
    }
  }
  return broken;
}

test("every relative link in README.md and docs/ names an existing file and heading", () => {
  const files = markdownFiles();
  assert.ok(files.includes("docs/configuration.md"), "the moved README sections are found");
  assert.deepEqual(files.flatMap(brokenLinks), []);
});

test("the README stays a page: details belong in docs/, linked from its Documentation section", () => {
  const size = statSync(join(ROOT, "README.md")).size;
  assert.ok(size <= 16 * 1024, `README.md is ${size} bytes; move details to docs/*.md and link them`);
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  for (const doc of ["configuration", "http-api", "oura", "delivery", "ops-cli"]) {
    assert.ok(readme.includes(`](docs/${doc}.md)`), `README links docs/${doc}.md`);
  }
});
