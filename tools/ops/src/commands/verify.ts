import { topologyNamesFromEnv } from "@aa/event-bus";
import { describeDatabase } from "../database.js";
import { durationMs, WHOLE_SECONDS } from "../duration.js";
import { footer, header, writeJson, type Writer } from "../output.js";
import { newProbe, type Probe } from "../verify/probe.js";
import { runVerify, type VerifyReport, type VerifyTarget } from "../verify/run.js";
import { resultLine, writeChecks } from "./check-report.js";
import { usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import {
  DATABASE_OPTIONS,
  databaseTargetOf,
  expectedTopology,
  ingestAdminUrlOf,
  ingestUrlOf,
  MODE_OPTIONS,
  normalizeUrlOf,
  SERVICE_OPTIONS,
} from "./service-options.js";

function probeTimeoutOf(option: string | boolean | undefined): number {
  if (option === undefined) return 15_000;
  const ms = typeof option === "string" ? durationMs(option, WHOLE_SECONDS) : undefined;
  if (ms !== undefined) return ms;
  throw usageError(`--probe-timeout takes whole seconds, got ${JSON.stringify(option)}`);
}

function targetOf(input: CommandInput): VerifyTarget {
  return {
    topology: expectedTopology(input),
    names: topologyNamesFromEnv(input.env),
    ingestUrl: ingestUrlOf(input),
    ingestAdminUrl: ingestAdminUrlOf(input),
    // env only, so the key stays out of shell history and `ps`
    ingestApiKey: input.env.INGEST_API_KEY?.trim() || undefined,
    normalizeUrl: normalizeUrlOf(input),
    database: databaseTargetOf(input),
    probeTimeoutMs: probeTimeoutOf(input.options["probe-timeout"]),
  };
}

const keptNote = (probe: Probe): string[] => [
  `The probe row (user_id ${probe.userId}) is kept, as the runbook's own E2E test keeps its rows. ` +
    "To remove probe rows:",
  `  DELETE FROM hrv_data WHERE user_id LIKE 'aa-ops-verify-%';`,
];

function writeReport(write: Writer, report: VerifyReport, probe: Probe): void {
  writeChecks(write, report.checks);
  footer(write, [
    resultLine(report.checks),
    report.passed
      ? "✅ Post-deployment verification passed"
      : "❌ Post-deployment verification FAILED: see the reasons above",
  ]);
  if (!report.probeAccepted) return;
  write("");
  for (const line of keptNote(probe)) write(line);
}

const verifyCommand: Command = {
  words: ["verify"],
  args: [],
  summary: "The runbook's Post-Deployment Verification as a PASS/FAIL report (exit 1 if anything fails)",
  details: [
    "(a) the mode's streams and (b) durables exist as configured (topology plan: no change); (c) ingest and",
    "normalize /health answer the runbook's bodies, every durable bound primary on the mode's stream; (d) an",
    "HRV probe (user aa-ops-verify-<time>) through ingest reaches hrv_data with ln_rmssd = ln(rmssd); (e) the",
    "runbook's metric lines carry the mode's stream label; (f) no new AA_DLQ message during the probe.",
    "The probe row is kept (the runbook's E2E test keeps its rows too); the report says how to delete it.",
    "The probe authenticates with the API key in INGEST_API_KEY (npx aa-ops keys create), not scoped to user ids.",
  ],
  options: {
    ...MODE_OPTIONS,
    ...SERVICE_OPTIONS,
    ...DATABASE_OPTIONS,
    "probe-timeout": { type: "string", value: "<seconds>", help: "how long to wait for the probe's row (default 15)" },
  },
  prepare(input) {
    const target = targetOf(input);
    return async (jsm, out): Promise<CliExitCode> => {
      const probe = newProbe(new Date());
      if (!input.json) {
        const rows: [string, string][] = [
          ["NATS URL", input.natsUrl],
          ["Mode", target.topology.mode],
          ["Ingest", target.ingestUrl],
          ["Normalize", target.normalizeUrl],
          ["Database", describeDatabase(target.database)],
        ];
        header(out, "aa-ops verify: Post-Deployment Verification", rows);
      }
      const report = await runVerify(jsm, target, probe);
      if (input.json)
        writeJson(out, {
          natsUrl: input.natsUrl,
          mode: target.topology.mode,
          ingestUrl: target.ingestUrl,
          normalizeUrl: target.normalizeUrl,
          database: describeDatabase(target.database),
          probe: { ...probe, accepted: report.probeAccepted, kept: report.probeAccepted },
          ok: report.passed,
          checks: report.checks,
        });
      else writeReport(out, report, probe);
      return report.passed ? 0 : 1;
    };
  },
};

export const verifyCommands: readonly Command[] = [verifyCommand];
