import type { RunSummary } from "./run.js";

const FAILURES_SHOWN = 20;

/** The JSON a scheduler or script reads: `stale-mi run --json` prints it, the timer logs it. */
export function summaryJson(summary: RunSummary): Record<string, unknown> {
  return {
    runId: summary.runId,
    status: summary.status,
    findings: summary.findings,
    risky: summary.risky,
    new: summary.new,
    escalated: summary.escalated,
    reopened: summary.reopened,
    unchanged: summary.unchanged,
    resolved: summary.resolved,
    delivered: summary.delivered,
    pending: summary.pending,
    ...(summary.directory ? { directory: summary.directory } : {}),
    requests: summary.requests,
    durationMs: summary.durationMs,
    ...(summary.statistics ? { statistics: summary.statistics } : {}),
    // One line per run in Application Insights, whose messages are cut at 32 KB: a day on which every incident
    // failed must still log a line the alerts can parse.
    ...(summary.failures.length > 0 ? { failures: summary.failures.slice(0, FAILURES_SHOWN) } : {}),
    ...(summary.failures.length > FAILURES_SHOWN ? { failuresNotShown: summary.failures.length - FAILURES_SHOWN } : {}),
    ...(summary.error ? { error: summary.error } : {}),
  };
}

/** A short table for people, one row per run. */
export function summaryTable(rows: readonly { label: string; summary: RunSummary }[]): string {
  const header = [
    "run",
    "status",
    "findings",
    "risky",
    "new",
    "escalated",
    "reopened",
    "unchanged",
    "resolved",
    "delivered teams/sentinel",
    "pending",
  ];
  const body = rows.map(({ label, summary: s }) => [
    label,
    s.status,
    String(s.findings),
    String(s.risky),
    String(s.new),
    String(s.escalated),
    String(s.reopened),
    String(s.unchanged),
    String(s.resolved),
    `${s.delivered.teams}/${s.delivered.sentinel}`,
    String(s.pending),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), ...body.map(line)].join("\n");
}

/** Exit codes a scheduler can act on. */
export const EXIT = { done: 0, failed: 1, usage: 2, pending: 3 } as const;

export const exitCodeOf = (summary: RunSummary): number =>
  summary.status === "done" ? EXIT.done : summary.status === "pending" ? EXIT.pending : EXIT.failed;
