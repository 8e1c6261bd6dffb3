import { describe, expect, it } from "vitest";
import type { HttpResponse, Outcome, RetryPolicy } from "../../src/notify/http.js";
import { classify, RateLimiter, retryDelay } from "../../src/notify/http.js";

const POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };
const NOW = Date.parse("2026-12-01T06:00:00Z");
const clock = () => NOW;

function response(status: number, retryAfter?: string): HttpResponse {
  return { status, headers: new Headers(retryAfter === undefined ? {} : { "retry-after": retryAfter }), text: "" };
}

describe("classify", () => {
  const table: [number, Outcome][] = [
    [200, "ok"],
    [201, "ok"],
    [202, "ok"],
    [204, "ok"],
    [429, "retry"],
    [500, "retry"],
    [502, "retry"],
    [503, "retry"],
    [504, "retry"],
    [400, "final"],
    [401, "final"],
    [403, "final"],
    [404, "final"],
    [409, "final"],
    [412, "final"],
  ];

  it.each(table)("treats status %i as %s", (status, outcome) => {
    expect(classify(status)).toBe(outcome);
  });
});

describe("retryDelay", () => {
  it.each([
    ["0", 0],
    ["1", 1000],
    ["7", 7000],
    ["2.5", 2500],
  ])("waits the Retry-After of %s seconds exactly, with no jitter", (header, expected) => {
    expect(retryDelay(response(429, header), 1, POLICY, clock, () => 0.99)).toBe(expected);
  });

  it("waits until a Retry-After HTTP-date", () => {
    const date = new Date(NOW + 12_000).toUTCString();
    expect(retryDelay(response(503, date), 1, POLICY, clock)).toBe(12_000);
  });

  it("waits nothing for a Retry-After HTTP-date already past", () => {
    const date = new Date(NOW - 30_000).toUTCString();
    expect(retryDelay(response(503, date), 1, POLICY, clock)).toBe(0);
  });

  it.each([
    ["seconds", "3600"],
    ["an HTTP-date", new Date(NOW + 3_600_000).toUTCString()],
  ])("caps a Retry-After given in %s at maxDelayMs", (_form, header) => {
    expect(retryDelay(response(429, header), 1, POLICY, clock)).toBe(POLICY.maxDelayMs);
  });

  it("falls back to its own backoff when Retry-After is not a number or a date", () => {
    expect(retryDelay(response(429, "soon"), 3, POLICY, clock, () => 0)).toBe(2000);
  });

  // Ceiling = min(maxDelayMs, baseDelayMs * 2^(attempt-1)); the delay is drawn from [ceiling/2, ceiling].
  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 16_000],
    [6, 32_000],
    [7, 60_000],
    [12, 60_000],
  ])("without Retry-After, after attempt %i waits between half of %i ms and all of it", (attempt, ceiling) => {
    for (const result of [undefined, response(503)]) {
      expect(retryDelay(result, attempt, POLICY, clock, () => 0)).toBe(ceiling / 2);
      expect(retryDelay(result, attempt, POLICY, clock, () => 0.5)).toBe((ceiling * 3) / 4);
      expect(retryDelay(result, attempt, POLICY, clock, () => 1)).toBe(ceiling);
    }
  });

  it("grows the backoff exponentially from attempt to attempt", () => {
    const delays = [1, 2, 3, 4, 5].map((attempt) => retryDelay(undefined, attempt, POLICY, clock, () => 0.5));
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBe((delays[i - 1] as number) * 2);
  });
});

describe("RateLimiter", () => {
  /** A virtual clock that only moves when the limiter sleeps. */
  function virtualTime() {
    let now = 0;
    const sleeps: number[] = [];
    return {
      clock: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
      sleeps,
    };
  }

  it("spaces 10 takes at 4 per second over at least 2.25 s of virtual time", async () => {
    const time = virtualTime();
    const limiter = new RateLimiter(4, time.clock, time.sleep);
    const starts: number[] = [];
    for (let i = 0; i < 10; i++) {
      await limiter.take();
      starts.push(time.clock());
    }
    // 250 ms apart plus the limiter's 10 ms margin.
    expect(starts).toEqual([0, 260, 520, 780, 1040, 1300, 1560, 1820, 2080, 2340]);
    expect(time.clock()).toBeGreaterThanOrEqual(2250);
    // Never a fifth start inside any one-second window.
    for (let i = 4; i < starts.length; i++) {
      expect((starts[i] as number) - (starts[i - 4] as number)).toBeGreaterThanOrEqual(1000);
    }
  });

  it("does not sleep when the caller is already slower than the rate", async () => {
    const time = virtualTime();
    const limiter = new RateLimiter(4, time.clock, time.sleep);
    await limiter.take();
    await time.sleep(400);
    time.sleeps.length = 0;
    await limiter.take();
    expect(time.sleeps).toEqual([]);
  });
});
