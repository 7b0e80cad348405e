/** PromQL words that look like metric names but are not. */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

/** Series that Prometheus creates itself for every target. */
export const SYNTHETIC_SERIES = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);

/**
 * The metric names a PromQL expression reads. Label matchers, strings, ranges and
 * label lists (`by (...)`) are removed first; what is left and not a function call,
 * keyword or number is a metric name. Enough for the queries of this repository.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (!name || call || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** Names of every sample in a Prometheus text exposition (`_bucket`, `_sum`, `_count` included). */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (match?.[1]) names.add(match[1]);
  }
  return names;
}

/** Substitutes the dashboard's variables as Grafana would with "All" jobs selected. */
export function expandDashboardVariables(expr: string, jobs: readonly string[], rateInterval = "1m"): string {
  // $namespace is "All" (.*): the test Prometheus scrapes one environment without that label.
  return expr
    .replaceAll("$__rate_interval", rateInterval)
    .replaceAll("$job", jobs.join("|"))
    .replaceAll("$namespace", ".*");
}
