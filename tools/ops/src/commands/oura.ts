import { insecureUrlProblem, type OuraSubscription } from "@aa/oura";
import { createSubscriptions, listAppSubscriptions, renewSubscriptions, type OuraApp } from "../oura/subscriptions.js";
import { table, writeJson, type Writer } from "../output.js";
import {
  CliError,
  usageError,
  type CliExitCode,
  type Command,
  type OfflineCommand,
  type CommandInput,
  type OptionSpec,
} from "./command.js";
import { durationMs } from "../duration.js";
import { linkTokenCommand } from "./oura-link-token.js";

const DEFAULT_API_URL = "https://api.ouraring.com";
const DEFAULT_RENEW_WITHIN = "7d";
const ACTIONS = ["list", "create", "renew"] as const;
type Action = (typeof ACTIONS)[number];

const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "api-url": {
    type: "string",
    value: "<url>",
    help: `Oura API base URL (default OURA_API_BASE_URL or ${DEFAULT_API_URL})`,
  },
  "callback-url": { type: "string", value: "<url>", help: "create: the public URL of ingest's /webhooks/oura" },
  "data-type": { type: "string", value: "<types>", help: "create: comma-separated Oura data types (default sleep)" },
  "event-type": {
    type: "string",
    value: "<types>",
    help: "create: comma-separated event types (default create,update)",
  },
  id: { type: "string", value: "<id>", help: "renew: only this subscription, whatever its expiry" },
  within: {
    type: "string",
    value: "<duration>",
    help: `renew: every subscription expiring within this (30m, 48h, 7d; default ${DEFAULT_RENEW_WITHIN})`,
  },
};

function targetOf(input: CommandInput): OuraApp {
  const id = input.env.OURA_CLIENT_ID?.trim();
  const secret = input.env.OURA_CLIENT_SECRET?.trim();
  if (!id || !secret)
    throw usageError("OURA_CLIENT_ID and OURA_CLIENT_SECRET must be set (the subscription API authenticates the app)");
  const option = input.options["api-url"];
  const baseUrl = typeof option === "string" ? option : input.env.OURA_API_BASE_URL?.trim() || DEFAULT_API_URL;
  const insecure = insecureUrlProblem(typeof option === "string" ? "--api-url" : "OURA_API_BASE_URL", baseUrl);
  if (insecure) throw usageError(insecure);
  return { http: { baseUrl }, credentials: { clientId: id, clientSecret: secret } };
}

function withinMs(raw: string | boolean | undefined): number {
  const ms = durationMs(typeof raw === "string" ? raw : DEFAULT_RENEW_WITHIN);
  if (ms === undefined)
    throw usageError(`--within takes a duration such as 30m, 48h or 7d, got ${JSON.stringify(raw)}`);
  return ms;
}

const listOf = (raw: string | boolean | undefined, fallback: string): string[] =>
  (typeof raw === "string" ? raw : fallback)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** `29d 23h` to expiry, or `expired 2h ago`. */
function untilText(expiration: string, nowMs: number): string {
  const ms = Date.parse(expiration) - nowMs;
  const abs = Math.abs(ms);
  const text =
    abs >= 86_400_000
      ? `${Math.floor(abs / 86_400_000)}d ${Math.floor((abs % 86_400_000) / 3_600_000)}h`
      : `${Math.floor(abs / 3_600_000)}h ${Math.floor((abs % 3_600_000) / 60_000)}m`;
  return ms >= 0 ? text : `expired ${text} ago`;
}

function writeSubscriptions(out: Writer, subscriptions: readonly OuraSubscription[], json: boolean): void {
  if (json) return writeJson(out, subscriptions);
  if (subscriptions.length === 0) return out("No Oura webhook subscriptions.");
  const now = Date.now();
  const rows = [...subscriptions].sort((a, b) => a.expiration_time.localeCompare(b.expiration_time));
  table(
    out,
    ["ID", "DATA TYPE", "EVENT TYPE", "EXPIRES", "IN", "CALLBACK URL"],
    rows.map((s) => [
      s.id,
      s.data_type,
      s.event_type,
      s.expiration_time,
      untilText(s.expiration_time, now),
      s.callback_url,
    ]),
  );
}

async function create(app: OuraApp, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const callbackUrl = input.options["callback-url"];
  if (typeof callbackUrl !== "string" || !/^https?:\/\//.test(callbackUrl))
    throw usageError("create needs --callback-url <url> (ingest's /webhooks/oura as Oura reaches it)");
  const verificationToken = input.env.OURA_VERIFICATION_TOKEN?.trim();
  if (!verificationToken) throw usageError("create needs OURA_VERIFICATION_TOKEN set (the same value as ingest's)");
  const created = await createSubscriptions(app, {
    callbackUrl,
    verificationToken,
    dataTypes: listOf(input.options["data-type"], "sleep"),
    eventTypes: listOf(input.options["event-type"], "create,update"),
  });
  writeSubscriptions(out, created, input.json);
  return 0;
}

async function renew(app: OuraApp, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const id = input.options.id;
  const expiringBy = new Date(Date.now() + withinMs(input.options.within));
  const renewed = await renewSubscriptions(app, typeof id === "string" ? { id } : { expiringBy });
  if (!input.json && renewed.length === 0)
    out(`No subscription expires within ${String(input.options.within ?? DEFAULT_RENEW_WITHIN)}; nothing renewed.`);
  else writeSubscriptions(out, renewed, input.json);
  return 0;
}

function actionOf(raw: string | undefined): Action {
  const action = ACTIONS.find((a) => a === raw);
  if (!action)
    throw usageError(`oura subscriptions takes one of ${ACTIONS.join(", ")}, got ${JSON.stringify(raw ?? "")}`);
  return action;
}

/** Runs an action; an Oura failure becomes a one-line error (exit 1). */
async function run(action: Action, target: OuraApp, input: CommandInput, out: Writer): Promise<CliExitCode> {
  try {
    if (action === "list") {
      writeSubscriptions(out, await listAppSubscriptions(target), input.json);
      return 0;
    }
    return await (action === "create" ? create : renew)(target, input, out);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
}

const subscriptionsCommand: OfflineCommand = {
  words: ["oura", "subscriptions"],
  args: ["<list|create|renew>"],
  nats: false,
  summary: "List, create or renew the app's Oura webhook subscriptions (Oura API /v2/webhook/subscription)",
  details: [
    "Authenticates with OURA_CLIENT_ID / OURA_CLIENT_SECRET (headers x-client-id / x-client-secret); needs no NATS.",
    "create: one subscription per data type and event type, with --callback-url and OURA_VERIFICATION_TOKEN;",
    "Oura calls the callback's GET handshake before it answers, so ingest must be reachable and configured.",
    "renew: every subscription expiring within --within (default 7d), or --id; run it daily so none lapses.",
    "normalize exports oura_webhook_subscription_expiry_seconds (seconds to the nearest expiry) to alert on.",
  ],
  options: OPTIONS,
  prepare(input) {
    const action = actionOf(input.args[0]);
    const target = targetOf(input);
    if (action === "renew") withinMs(input.options.within);
    return (out) => run(action, target, input, out);
  },
};

export const ouraCommands: readonly Command[] = [subscriptionsCommand, linkTokenCommand];
