/**
 * Every alert's runbook_url is `{{ $externalLabels.runbook_base_url }}/docs/…`: without that
 * external label the link is a bare path that opens nowhere from Alertmanager, Slack or a pager.
 * Prometheus' /api/v1/rules shows annotations unexpanded, so the label is read from the loaded
 * configuration (/api/v1/status/config, its `data.yaml`).
 */

const LABEL = /^\s*runbook_base_url:\s*['"]?([^'"\s]*)['"]?\s*$/m;

/** Why the alerts' links will not open, or undefined when runbook_base_url is an absolute URL. */
export function runbookLinkWarning(configYaml: string): string | undefined {
  const value = LABEL.exec(configYaml)?.[1];
  if (value === undefined || value === "")
    return "Prometheus has no runbook_base_url external label: every alert's runbook_url is a bare /docs/… path";
  if (!/^https?:\/\/[^/]+/.test(value))
    return `Prometheus' runbook_base_url ${JSON.stringify(value)} is not an absolute http(s) URL: links open nowhere`;
  if (value.endsWith("/"))
    return `Prometheus' runbook_base_url ${JSON.stringify(value)} ends with "/": links get "//docs"`;
  return undefined;
}
