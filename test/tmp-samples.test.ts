import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { isRisky } from "../src/hunt/finding.js";
import { parseFindings } from "../src/hunt/parse.js";
import { replayTable } from "../src/hunt/source.js";
import { diff } from "../src/state/diff.js";
import { restoreFinding } from "../src/state/records.js";

const load = (f: string) => parseFindings(replayTable(JSON.parse(readFileSync(f, "utf8")), f), f);

test("samples parse and diff as described", () => {
  const d1 = load("samples/day-1.json");
  const d2 = load("samples/day-2.json");
  const t1 = new Date("2026-12-01T06:00:00Z");
  const t2 = new Date("2026-12-02T06:00:00Z");
  console.log("day1", d1.length, "risky", d1.filter(isRisky).length, "day2", d2.length, "risky", d2.filter(isRisky).length);
  const p1 = diff([], d1, t1, { channels: ["teams"] });
  const count = (p: typeof p1) => p.changes.reduce<Record<string, number>>((a, c) => ({ ...a, [c.kind]: (a[c.kind] ?? 0) + 1 }), {});
  console.log("day1 diff", count(p1));
  const p2 = diff(p1.writes, d2, t2, { channels: ["teams"] });
  console.log("day2 diff", count(p2));
  for (const c of p2.changes) console.log(" ", c.kind.padEnd(10), c.after.riskSignal.padEnd(32), c.after.finding.servicePrincipalName.slice(0, 40));
  // Days derived from stored anchors match the day-2 rows.
  for (const c of p2.changes.filter((c) => c.kind === "unchanged")) {
    const row = d2.find((f) => f.servicePrincipalId === c.servicePrincipalId);
    expect(restoreFinding(c.after.finding, t2).daysSinceSignin).toBe(row?.daysSinceSignin);
  }
  expect(count(p1)).toEqual({ new: 5, tracked: 4 });
  expect(count(p2)).toEqual({ unchanged: 6, new: 2, escalated: 1, resolved: 1 });
});
