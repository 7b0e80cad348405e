// Reads the V8 CPU profiles `npm run bench -- --profile DIR` leaves under DIR and prints, for each service process,
// where its busy time went: by area (a package, a service's own code, node's internals, the garbage collector) and by
// function (self time). Usage: node --import tsx bench/profile-summary.ts DIR [--top N]
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// Time the process spent waiting, not working: left out of every share.
const IDLE = new Set(["(idle)"]);

/** Where a frame's code lives: a package, a project folder, a node internal module, or V8's own bucket. */
export function areaOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native code)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1] ?? url;
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  const path = url.startsWith("file:") ? relative(ROOT, fileURLToPath(url)) : url;
  const [top, name] = path.split("/");
  return top === "services" || top === "packages" || top === "tools" ? `${top}/${name}` : path;
}

/** A frame's file, short: past node_modules/, or relative to the repository. */
function placeOf(url: string): string {
  const past = url.lastIndexOf("node_modules/");
  if (past >= 0) return url.slice(past + "node_modules/".length);
  return url.startsWith("file:") ? relative(ROOT, fileURLToPath(url)) : url;
}

/** Self time in ms per key (area, or function), busy time only. */
function selfTimes(profile: CpuProfile, keyOf: (node: ProfileNode) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map<string, number>();
  // timeDeltas[i + 1] is how long the sample i's frame ran before the next sample was taken.
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const micros = profile.timeDeltas[i + 1] ?? 0;
    if (node === undefined || IDLE.has(node.callFrame.functionName)) return;
    const key = keyOf(node);
    times.set(key, (times.get(key) ?? 0) + micros / 1000);
  });
  return times;
}

function table(title: string, times: Map<string, number>, top: number): string {
  const busy = [...times.values()].reduce((a, b) => a + b, 0);
  const rows = [...times.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, ms]) => `  ${((100 * ms) / busy).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(7)} ms  ${key}`);
  return [`${title} (busy ${busy.toFixed(0)} ms)`, ...rows].join("\n");
}

async function profilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".cpuprofile"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function main(): Promise<void> {
  const [dir, ...rest] = process.argv.slice(2);
  const topAt = rest.indexOf("--top");
  const top = topAt >= 0 ? Number(rest[topAt + 1]) : 15;
  if (dir === undefined || !Number.isInteger(top) || top < 1)
    throw new Error("usage: bench/profile-summary.ts DIR [--top N] (DIR: what npm run bench -- --profile DIR wrote)");
  const files = await profilesUnder(dir);
  if (files.length === 0)
    throw new Error(
      `no .cpuprofile under ${dir}: run npm run bench -- --profile ${dir} first (a service killed ` +
        `before it exits cleanly writes none)`,
    );
  for (const file of files) {
    const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
    const fn = (node: ProfileNode) => {
      const { functionName, url, lineNumber } = node.callFrame;
      return url === ""
        ? functionName || "(anonymous)"
        : `${functionName || "(anonymous)"} ${placeOf(url)}:${lineNumber + 1}`;
    };
    console.log(`\n== ${relative(dir, file)}`);
    console.log(
      table(
        "by area",
        selfTimes(profile, (node) => areaOf(node.callFrame.url, node.callFrame.functionName)),
        top,
      ),
    );
    console.log(table("by function, self time", selfTimes(profile, fn), top));
  }
}

await main();
