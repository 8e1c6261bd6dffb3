/**
 * Benchmark: prints figures (requests, time, memory) for whole runs on a local Azurite and for the pure core
 * at the service's row limit. Figures, not assertions: timings on a shared machine vary, request counts do not.
 * Run: npm run bench [-- IDENTITIES]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assembleRun } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { HUNT_COLUMNS } from "../src/hunt/finding.js";
import { parseFindings } from "../src/hunt/parse.js";
import type { Logger } from "../src/run.js";
import { runDetection } from "../src/run.js";
import { startAzurite } from "../src/state/azurite.js";
import { diff } from "../src/state/diff.js";

const identities = Number(process.argv[2] ?? 10_000);
const SIGNALS = ["CredOrRoleChangeOnStaleIdentity", "AzureActivityWithoutSignIn", "CreatedAndModifiedButNeverUsed"];
const quiet: Logger = { info: () => {}, warn: (m) => console.error(m), error: (m) => console.error(m) };

function row(i: number, day: number): unknown[] {
  const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
  // A tenth are risky; on day 2 one in a hundred changes signal and one in a hundred is gone.
  const signal = i % 10 === 0 ? (SIGNALS[(i / 10 + (day === 2 && i % 100 === 0 ? 1 : 0)) % 3] ?? "") : "";
  const values: Record<string, unknown> = {
    ServicePrincipalId: id,
    ServicePrincipalName: `mi-bench-${i}`,
    StalenessCategory: "Stale (90-179d)",
    DaysSinceSignin: 100 + day,
    LastSignin: "2026-08-20T04:00:00Z",
    TotalSignins: 40,
    UniqueResources: 2,
    LastResource: "Azure Key Vault",
    RecentChanges: signal ? 1 : 0,
    ChangeTypes: signal ? '["Add service principal credentials"]' : "[]",
    LastChange: signal ? "2026-11-20T10:00:00Z" : null,
    ChangedBy: signal ? '["alex@contoso.com"]' : "[]",
    AzureOpsCount: 0,
    LastAzureOp: null,
    AzureResources: "[]",
    AzureOperations: "[]",
    RiskSignal: signal,
    IPAddresses: '["20.50.2.17"]',
  };
  return HUNT_COLUMNS.map((c) => values[c.name]);
}

function table(count: number, day: number) {
  const rows: unknown[][] = [];
  for (let i = 0; i < count; i++) if (!(day === 2 && i % 100 === 50)) rows.push(row(i, day));
  return { columns: HUNT_COLUMNS.map(({ name, type }) => ({ name, type })), rows };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function wholeRuns(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "stale-mi-bench-"));
  const azurite = await startAzurite(undefined);
  try {
    const config = loadConfig(
      { NOTIFY_CHANNELS: "teams,sentinel", HUNT_LOOKBACK_DAYS: "365", STATE_TABLE_NAME: "bench" },
      { replay: true, outbox: true },
    );
    console.log(`Whole runs on in-memory Azurite, ${identities} identities, deliveries to an outbox:`);
    console.log(
      "run                  findings  risky  new+esc  resolved  storage reads  storage writes  time      heap",
    );
    for (const day of [1, 2, 2]) {
      const replay = join(dir, `day-${day}.json`);
      writeFileSync(replay, JSON.stringify({ tables: [{ name: "PrimaryResult", ...table(identities, day) }] }));
      const run = await assembleRun(
        config,
        {
          replay,
          outbox: join(dir, "outbox"),
          state: { kind: "connection", connectionString: azurite.connectionString },
          now: new Date(`2026-12-0${day}T06:00:00Z`),
        },
        quiet,
      );
      const s = await runDetection(run.deps);
      await run.close();
      const label = day === 1 ? "day 1 (empty state)" : s.new + s.escalated === 0 ? "day 2 again" : "day 2";
      console.log(
        `${label.padEnd(20)} ${String(s.findings).padStart(8)} ${String(s.risky).padStart(6)} ${String(s.new + s.escalated + s.reopened).padStart(8)} ${String(s.resolved).padStart(9)} ${String(s.requests.storage.reads).padStart(14)} ${String(s.requests.storage.writes).padStart(15)}  ${`${s.durationMs} ms`.padEnd(8)}  ${mb(process.memoryUsage().heapUsed)}`,
      );
    }
  } finally {
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function pureCoreAtRowLimit(): void {
  const count = 499_999;
  const raw = table(count, 1);
  const before = process.memoryUsage().heapUsed;
  let start = performance.now();
  const findings = parseFindings(raw, "bench");
  const parseMs = performance.now() - start;
  start = performance.now();
  const plan = diff([], findings, new Date("2026-12-01T06:00:00Z"), { channels: ["teams", "sentinel"] });
  const diffMs = performance.now() - start;
  console.log(
    `\nPure core at the service's row limit (${count} rows): parse ${parseMs.toFixed(0)} ms, diff ${diffMs.toFixed(0)} ms, ${plan.writes.length} records planned, heap +${mb(process.memoryUsage().heapUsed - before)}, rss ${mb(process.memoryUsage().rss)}`,
  );
}

await wholeRuns();
pureCoreAtRowLimit();
