/**
 * One benchmark day: a real run (replay file, Table Storage, outbox) as the CLI does it, its figures, and the
 * floor it is judged against. Used by the benchmark's child processes and by its smoke test.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { assembleRun } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { Logger } from "../../src/run.js";
import { runDetection } from "../../src/run.js";
import type { StorageCounts } from "./countingProxy.js";
import type { Expected } from "./synthetic.js";

/** Table Storage returns at most 1,000 entities per page and takes at most 100 operations per transaction. */
export const PAGE_SIZE = 1000;
export const TRANSACTION_SIZE = 100;

/** Channels as shipped by default: Sentinel first, then Teams. */
export const BENCH_CHANNELS = "teams,sentinel";

export interface DayInput {
  connectionString: string;
  table: string;
  replay: string;
  outbox: string;
  now: string;
}

export interface DayFigures {
  summary: {
    status: string;
    findings: number;
    risky: number;
    new: number;
    escalated: number;
    reopened: number;
    resolved: number;
    pending: number;
    delivered: { teams: number; sentinel: number };
    /** The detector's own count (its HTTP pipeline policy), to compare with the proxy's. */
    storage: { reads: number; writes: number };
    failures: string[];
    error?: string;
  };
  /** Files the outbox received: one per Teams message, one per Sentinel incident (each one HTTP request live). */
  deliveries: { teams: number; sentinel: number };
  wallMs: number;
  cpuMs: number;
  /** This process's peak resident set; meaningful when the day ran in a process of its own. */
  peakRssBytes: number;
}

/** Runs one day as the CLI's `run --replay --outbox --state-connection` does, and measures it. */
export async function runDay(input: DayInput, log: Logger): Promise<DayFigures> {
  const config = loadConfig(
    {
      NOTIFY_CHANNELS: BENCH_CHANNELS,
      STATE_TABLE_NAME: input.table,
      // Explicit, so the figures stay about the hunt, the state and the deliveries whatever the default becomes.
      GRAPH_ENRICHMENT: "off",
    },
    { replay: true, outbox: true },
  );
  const cpu = process.cpuUsage();
  const start = performance.now();
  const run = await assembleRun(
    config,
    {
      replay: input.replay,
      outbox: input.outbox,
      state: { kind: "connection", connectionString: input.connectionString },
      now: new Date(input.now),
    },
    log,
  );
  let s: Awaited<ReturnType<typeof runDetection>>;
  try {
    s = await runDetection(run.deps);
  } finally {
    await run.close();
  }
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const files = (channel: string) => {
    const dir = join(input.outbox, channel);
    return existsSync(dir) ? readdirSync(dir).length : 0;
  };
  return {
    summary: {
      status: s.status,
      findings: s.findings,
      risky: s.risky,
      new: s.new,
      escalated: s.escalated,
      reopened: s.reopened,
      resolved: s.resolved,
      pending: s.pending,
      delivered: s.delivered,
      storage: s.requests.storage,
      failures: s.failures,
      ...(s.error ? { error: s.error } : {}),
    },
    deliveries: { teams: files("teams"), sentinel: files("sentinel") },
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    // Linux reports maxRSS in kilobytes.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

/**
 * The fewest requests a day could possibly need, part by part:
 * - the lease: one read and one conditional write (the guard against two runs interleaving; no run may skip it),
 *   plus creating the table on a deployment's very first run;
 * - reading the state: one request per page of 1,000 stored identity rows (at least one, to learn it is empty);
 * - writing it: one transaction per 100 changed identity rows;
 * - the deliveries: one request per Sentinel incident (the API has no batch) and one per Teams message (as many
 *   as the 28 KB message limit needs: the card builder fills each message in order before starting the next);
 * - finishing: one transaction that releases the lease and writes the run record.
 * Not in the floor: acknowledging deliveries. The detector persists its plan before delivering and clears each
 * channel's flag after (every 100 incidents, every Teams message) so that a crash can neither lose a finding nor
 * repeat more than one message; those writes are the price of that guarantee and show up in the ratio.
 */
export function floorOf(expected: Expected, teamsMessages: number, firstRun: boolean) {
  const parts = {
    lease: 2 + (firstRun ? 1 : 0),
    statePages: Math.max(1, Math.ceil(expected.storedRows / PAGE_SIZE)),
    stateTransactions: Math.ceil(expected.changedRows / TRANSACTION_SIZE),
    deliveries: expected.incidents + teamsMessages,
    finish: 1,
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
}

/** Every storage request that reached the table service plus every delivery. */
export const requestsOf = (counts: StorageCounts, deliveries: { teams: number; sentinel: number }): number =>
  counts.reads + counts.writes + counts.batches + deliveries.teams + deliveries.sentinel;

/** What the day's run must have reported and sent, given how its result was made; one line per mismatch. */
export function mismatches(expected: Expected, figures: DayFigures, counts: StorageCounts): string[] {
  const problems: string[] = [];
  const s = figures.summary;
  const want = (what: string, actual: number, wanted: number) => {
    if (actual !== wanted) problems.push(`${what}: ${actual}, expected ${wanted}`);
  };
  if (s.status !== "done") problems.push(`status ${s.status}${s.error ? `: ${s.error}` : ""}`);
  for (const failure of s.failures) problems.push(failure);
  want("findings", s.findings, expected.findings);
  want("risky", s.risky, expected.risky);
  want("new", s.new, expected.new);
  want("escalated", s.escalated, expected.escalated);
  want("reopened", s.reopened, 0);
  want("resolved", s.resolved, expected.resolved);
  want("Sentinel incidents", figures.deliveries.sentinel, expected.incidents);
  want("delivered to Sentinel", s.delivered.sentinel, expected.incidents);
  want("delivered to Teams", s.delivered.teams, expected.incidents);
  // Each changed row once in the plan, then each delivered one once more, its Teams acknowledgement carrying
  // Sentinel's: a row written once per channel would show here.
  want("identity row writes", counts.identityRows, expected.changedRows + expected.incidents);
  // The detector's own counter sees a transaction as one write: it must agree with the wire.
  want("reads by the detector's own count", s.storage.reads, counts.reads);
  want("writes by the detector's own count", s.storage.writes, counts.writes + counts.batches);
  return problems;
}
