import { fetchErrorMessage, HTTP_TIMEOUT_MS } from "./http.js";

/** One series with its value: a line of a `/metrics` page, or one element of a Prometheus instant vector. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;

const unescape = (value: string): string => value.replace(/\\(["\\n])/g, (_m, c: string) => (c === "n" ? "\n" : c));

function parseValue(raw: string): number {
  if (raw === "+Inf") return Infinity;
  if (raw === "-Inf") return -Infinity;
  return Number(raw);
}

/** Parses the Prometheus text exposition format (what a service's `/metrics` answers). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = LINE.exec(line);
    if (match === null || line.startsWith("#")) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) labels[key ?? ""] = unescape(value ?? "");
    samples.push({ name: match[1] ?? "", labels, value: parseValue(match[3] ?? "") });
  }
  return samples;
}

/** Samples of `name` whose labels include every label of `match`. */
export function samplesOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(match).every(([key, value]) => s.labels[key] === value),
  );
}

/** A sample as a `/metrics` line: `name{a="1",b="2"} 3`. */
export function sampleLine(sample: Sample): string {
  const labels = Object.entries(sample.labels).map(([key, value]) => `${key}="${value}"`);
  return `${sample.name}${labels.length > 0 ? `{${labels.join(",")}}` : ""} ${sample.value}`;
}

/** The same, for series a query returned (their name is in `__name__`, if kept). */
export const seriesLabel = (labels: Record<string, string>): string =>
  `{${Object.entries(labels)
    .filter(([key]) => key !== "__name__")
    .map(([key, value]) => `${key}="${value}"`)
    .join(",")}}`;

/** GETs a service's `/metrics` and parses it; throws a one-line error when it does not answer 200. */
export async function scrape(baseUrl: string): Promise<Sample[]> {
  const url = `${baseUrl}/metrics`;
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }).catch((error: unknown) => {
    throw new Error(`${url} did not answer: ${fetchErrorMessage(error)}`);
  });
  if (response.status !== 200) throw new Error(`${url} answered HTTP ${response.status}`);
  return parseMetrics(await response.text());
}

/** The configuration Prometheus has loaded, as YAML (`/api/v1/status/config`); throws a one-line error. */
export async function prometheusConfigYaml(baseUrl: string): Promise<string> {
  const url = `${baseUrl}/api/v1/status/config`;
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }).catch((error: unknown) => {
    throw new Error(`Prometheus at ${baseUrl} did not answer: ${fetchErrorMessage(error)}`);
  });
  const body = (await response.json().catch(() => ({}))) as { data?: { yaml?: unknown } };
  if (typeof body.data?.yaml !== "string") throw new Error(`${url} answered HTTP ${response.status} without data.yaml`);
  return body.data.yaml;
}

interface QueryResponse {
  status: "success" | "error";
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** Runs an instant query (`/api/v1/query`) at `time`; throws a one-line error naming the query on failure. */
export async function queryPrometheus(baseUrl: string, query: string, time: Date): Promise<Sample[]> {
  const url = `${baseUrl}/api/v1/query?${new URLSearchParams({ query, time: String(time.getTime() / 1000) })}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }).catch((error: unknown) => {
    throw new Error(`Prometheus at ${baseUrl} did not answer: ${fetchErrorMessage(error)}`);
  });
  const body = (await response
    .json()
    .catch(() => ({ status: "error", error: `HTTP ${response.status}, not JSON` }))) as QueryResponse;
  if (body.status !== "success" || body.data === undefined)
    throw new Error(`Prometheus query ${query} failed: ${body.error ?? `HTTP ${response.status}`}`);
  if (body.data.resultType !== "vector")
    throw new Error(`Prometheus query ${query} returned a ${body.data.resultType}, expected a vector`);
  return body.data.result.map((r) => ({
    name: r.metric.__name__ ?? "",
    labels: r.metric,
    value: parseValue(r.value[1]),
  }));
}
