import { describe, expect, it } from "vitest";
import type { RunSummary } from "../../src/run.js";
import { summaryJson } from "../../src/summary.js";

const summary = (failures: string[]): RunSummary => ({
  runId: "r",
  status: "pending",
  findings: 0,
  risky: 0,
  new: 0,
  escalated: 0,
  reopened: 0,
  unchanged: 0,
  resolved: 0,
  delivered: { teams: 0, sentinel: 0 },
  pending: failures.length,
  requests: { logAnalytics: 0, graph: 0, storage: { reads: 0, writes: 0 } },
  durationMs: 0,
  failures,
});

describe("summaryJson", () => {
  it.each([
    { failures: 0, shown: undefined, notShown: undefined },
    { failures: 20, shown: 20, notShown: undefined },
    { failures: 2000, shown: 20, notShown: 1980 },
  ])("logs at most 20 of $failures failures, and how many it left out", ({ failures, shown, notShown }) => {
    const line = summaryJson(summary(Array.from({ length: failures }, (_, i) => `Sentinel incident ${i}: 403`)));
    expect((line.failures as string[] | undefined)?.length).toBe(shown);
    expect(line.failuresNotShown).toBe(notShown);
    expect(JSON.stringify(line).length).toBeLessThan(32 * 1024);
  });
});
