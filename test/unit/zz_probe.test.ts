import { it } from "vitest";
import type { Finding } from "../../src/hunt/finding.js";
import { buildTeamsMessages } from "../../src/notify/teamsCard.js";
import { buildIncident } from "../../src/notify/sentinelIncident.js";
const mk = (s: string): Finding => ({
  servicePrincipalId: "00000000-0000-0000-0000-000000000001",
  servicePrincipalName: s.repeat(1000),
  stalenessCategory: s.repeat(100), daysSinceSignin: 100, lastSignin: "2024-01-01T00:00:00.000Z",
  totalSignins: 1, uniqueResources: 1, lastResource: s.repeat(1000), recentChanges: 9, changeTypes: Array(50).fill(s.repeat(1000)),
  lastChange: "2024-01-01T00:00:00.000Z", changedBy: Array(50).fill(s.repeat(1000)), azureOpsCount: 9, lastAzureOp: "2024-01-01T00:00:00.000Z",
  azureResources: Array(50).fill(s.repeat(1000)), azureOperations: Array(50).fill(s.repeat(1000)), riskSignal: s.repeat(1000),
  ipAddresses: Array(50).fill(s.repeat(1000)), extra: Object.fromEntries(Array.from({length: 20}, (_, i) => [s.repeat(100)+i, s.repeat(1000)])),
});
it("probe", () => {
  for (const s of ["a", "\u4e00", "\"", "\ud800", "😀"]) {
    try {
      const m = buildTeamsMessages([{ finding: mk(s), incidentUrl: "https://x" }], new Date());
      console.log(JSON.stringify(s), Buffer.byteLength(JSON.stringify(m[0]?.body)));
    } catch (e) { console.log(JSON.stringify(s), (e as Error).message); }
    const d = (buildIncident(mk(s), { severities: {}, now: new Date() }) as any).properties;
    console.log("desc", d.description.length, d.title.length);
  }
});
