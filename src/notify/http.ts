/**
 * The one retry and throttle policy every sender shares: 2xx is done, 429 and 5xx (and network failures) are
 * retried with backoff within the run's deadline, honouring Retry-After, and any other status fails at once.
 */

export type Outcome = "ok" | "retry" | "final";

export function classify(status: number): Outcome {
  if (status >= 200 && status < 300) return "ok";
  if (status === 429 || status >= 500) return "retry";
  return "final";
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT";
  url: string;
  /** How the request is named in errors and logs: the URL with its secrets removed, or a description. */
  display: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly attempts: number,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  /** The most we wait between attempts, whatever Retry-After asks. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** Spaces request starts so a channel never exceeds its rate (Teams throttles above 4 per second). */
export class RateLimiter {
  private next = 0;

  constructor(
    private readonly perSecond: number,
    private readonly clock: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = delay,
  ) {}

  async take(): Promise<void> {
    const now = this.clock();
    const start = Math.max(now, this.next);
    // A few milliseconds of margin: the server counts arrivals, and connection set-up can bunch them.
    this.next = start + 1000 / this.perSecond + 10;
    if (start > now) await this.sleep(start - now);
  }
}

export interface SendOptions {
  deadline: number;
  limiter: RateLimiter;
  policy?: RetryPolicy;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Strips secrets from any text that might echo the request (a network error's message). */
  redact?: (text: string) => string;
}

export async function send(request: HttpRequest, options: SendOptions): Promise<HttpResponse> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? delay;
  const redact = options.redact ?? ((t: string) => t);
  const what = `${request.method} ${request.display}`;

  for (let attempt = 1; ; attempt++) {
    await options.limiter.take();
    let response: HttpResponse | undefined;
    let failure: string;
    try {
      const raw = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(Math.max(1000, Math.min(100_000, options.deadline - clock()))),
      });
      response = { status: raw.status, headers: raw.headers, text: await raw.text() };
      const outcome = classify(response.status);
      if (outcome === "ok") return response;
      // Redact before shortening: a cut through an echoed secret would no longer match it.
      failure = `${response.status}${serviceMessage(redact(response.text))}`;
      if (outcome === "final") {
        throw new HttpError(`${what} → ${failure}`, response.status, attempt);
      }
    } catch (error) {
      if (error instanceof HttpError) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      failure = redact(`network error: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }

    const wait = retryDelay(response, attempt, policy, clock);
    if (attempt >= policy.maxAttempts) {
      throw new HttpError(`${what} → ${failure} after ${attempt} attempts`, response?.status, attempt);
    }
    if (clock() + wait > options.deadline) {
      throw new HttpError(
        `${what} → ${failure} after ${attempt} attempts; the next retry (in ${Math.ceil(wait / 1000)} s) would pass the run's time budget`,
        response?.status,
        attempt,
      );
    }
    await sleep(wait);
  }
}

/** A Retry-After header (seconds, or an HTTP date) as milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, clock: () => number = Date.now): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - clock();
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/** Retry-After is the server's word (capped, no jitter); our own backoff is exponential with jitter. */
export function retryDelay(
  response: HttpResponse | undefined,
  attempt: number,
  policy: RetryPolicy,
  clock: () => number = Date.now,
  random: () => number = Math.random,
): number {
  const serverSays = retryAfterMs(response?.headers.get("retry-after"), clock);
  if (serverSays !== undefined) return Math.min(serverSays, policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The service's own error text, short, for the message; ARM and Teams both answer {"error":{"code","message"}}. */
function serviceMessage(text: string): string {
  if (!text) return "";
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } | string; message?: string };
    const error = typeof body.error === "object" ? body.error : undefined;
    const message = [error?.code, error?.message ?? (typeof body.error === "string" ? body.error : body.message)]
      .filter(Boolean)
      .join(": ");
    return message ? ` ${message.slice(0, 300)}` : "";
  } catch {
    return ` ${text.slice(0, 200)}`;
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
