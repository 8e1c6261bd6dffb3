/**
 * The pure core (parser and diff) at the service's row limit, without storage: what a run's middle costs when
 * the hunt returns as many rows as Log Analytics ever will.
 */

import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import { parseFindings } from "../../src/hunt/parse.js";
import { SERVICE_ROW_LIMIT } from "../../src/hunt/source.js";
import { diff } from "../../src/state/diff.js";
import { FIRST_DAY, huntRow, identity } from "./synthetic.js";

export interface CoreFigures {
  rows: number;
  parseMs: number;
  /** Diff against empty state: every row new or tracked. */
  firstDiffMs: number;
  /** Diff of the same result against the state the first diff planned: every row unchanged. */
  sameDiffMs: number;
  peakRssBytes: number;
}

export function measureCore(seed: number): CoreFigures {
  // One below the limit: a result of exactly the limit is refused as truncated.
  const rows = SERVICE_ROW_LIMIT - 1;
  const table = {
    columns: HUNT_COLUMNS.map(({ name, type }) => ({ name, type })),
    rows: Array.from({ length: rows }, (_, i) => {
      const who = identity(seed, i);
      return huntRow(seed, who, who.signal, 0);
    }),
  };
  let start = performance.now();
  const findings = parseFindings(table, "bench");
  const parseMs = performance.now() - start;
  const policy = { channels: ["teams", "sentinel"] as const };
  start = performance.now();
  const first = diff([], findings, FIRST_DAY, policy);
  const firstDiffMs = performance.now() - start;
  start = performance.now();
  const same = diff(first.writes, findings, FIRST_DAY, policy);
  const sameDiffMs = performance.now() - start;
  if (first.writes.length !== rows || same.writes.length !== 0) {
    throw new Error(`the core planned ${first.writes.length} and then ${same.writes.length} writes for ${rows} rows`);
  }
  return { rows, parseMs, firstDiffMs, sameDiffMs, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}
