import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Step } from "./steps.js";

export const RUNBOOK = fileURLToPath(new URL("../docs/phase-3/ops/PHASE_B_RUNBOOK.md", import.meta.url));
const SECTIONS: readonly Step["section"][] = [
  "Prerequisites",
  "Pre-Deployment",
  "Deployment Steps",
  "Post-Deployment Verification",
  "Rollback Procedure",
];

/** `Section: heading` with a trailing parenthesis (timing, a remark) dropped: the name of a step. */
export const stepName = (section: string, heading: string): string =>
  `${section}: ${heading.replace(/\s*\([^)]*\)\s*$/, "").trim()}`;

/** The `###` headings of the runbook's step sections, as step names. */
export function runbookSteps(text = readFileSync(RUNBOOK, "utf8")): string[] {
  const names: string[] = [];
  let section: string | undefined;
  for (const line of text.split("\n")) {
    const h2 = /^## (.+)$/.exec(line);
    if (h2) section = SECTIONS.find((s) => h2[1]!.startsWith(s));
    const h3 = /^### (.+)$/.exec(line);
    if (h3 && section) names.push(stepName(section, h3[1]!));
  }
  return names;
}

/** Runbook headings the rehearsal does not play, each with why: nothing in it runs below kubectl. */
export const NOT_REHEARSED: Record<string, string> = {
  "Prerequisites: Infrastructure Access": "access rights, no command",
  "Prerequisites: Tools Required": "installed tools, no command",
  "Prerequisites: Settings of this change": "shell variables; the rehearsal passes each command its settings",
  "Prerequisites: Monitoring ready for the environment":
    "Prometheus, Grafana and NetworkPolicy labels: no Prometheus in the rehearsal",
  "Post-Deployment Verification: Automated": "aa-ops verify: played by Extended Monitoring (the shortened soak)",
  "Post-Deployment Verification: Immediate Checks": "kubectl logs and port-forwards; aa-ops verify covers /health",
  "Post-Deployment Verification: Functional Testing": "the producers post readings throughout every path",
  "Post-Deployment Verification: Metrics Verification": "curl /metrics; aa-ops status covers the stream counts",
  "Rollback Procedure: Step 0: (Re)create the aa-ops pod":
    "a pod: the rehearsal runs every aa-ops command as a fresh process with the settings in force",
};
