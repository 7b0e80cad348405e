import { errorMessage } from "./output.js";

/** How long a check waits for one HTTP answer. */
export const HTTP_TIMEOUT_MS = 5_000;

/** `fetch failed (ECONNREFUSED)`: undici hides the reason in `cause`. */
export function fetchErrorMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const why = cause?.code ?? cause?.message;
  return why === undefined ? errorMessage(error) : `${errorMessage(error)} (${why})`;
}

/** What a GET answered: status and body (JSON when it parses, else the text), or why there was no answer. */
export type Answer = { status: number; body: unknown } | { error: string };

export async function getAnswer(url: string): Promise<Answer> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) as unknown };
    } catch {
      return { status: response.status, body: text };
    }
  } catch (error) {
    return { error: fetchErrorMessage(error) };
  }
}

export const answerText = (a: Answer): string =>
  "error" in a
    ? `did not answer: ${a.error}`
    : `HTTP ${a.status} ${typeof a.body === "string" ? a.body : JSON.stringify(a.body)}`;
