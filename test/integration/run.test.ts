import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runOnce } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { Logger, RunSummary } from "../../src/run.js";
import { TableStateStore } from "../../src/state/store.js";
import { exitCodeOf } from "../../src/summary.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import {
  DAY_1,
  DAY_2,
  entitiesOf,
  identityRows,
  outboxFiles,
  readJson,
  sampleIds,
  samplePath,
} from "../helpers/tables.js";

const IDS = sampleIds();

let dir: string;
let table: string;
let outbox: string;
let logged: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "stale-mi-run-"));
  table = uniqueTableName("run");
  outbox = join(dir, "outbox");
  logged = [];
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const log: Logger = {
  info: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  error: (m) => logged.push(m),
};

/** One run as the CLI does it: replay file, outbox, state on the shared Azurite in this test's table. */
async function run(replay: string, now: Date, settings: Record<string, string> = {}): Promise<RunSummary> {
  const config = loadConfig(
    { HUNT_LOOKBACK_DAYS: "365", STATE_TABLE_NAME: table, NOTIFY_CHANNELS: "teams,sentinel", ...settings },
    { replay: true, outbox: true },
  );
  return await runOnce(
    config,
    { replay, outbox, state: { kind: "connection", connectionString: azuriteConnectionString() }, now },
    log,
  );
}

/** A copy of a sample with one column taken out of its columns and every row. */
function sampleWithout(day: 1 | 2, column: string): string {
  const body = readJson(samplePath(day)) as { tables: { columns: { name: string }[]; rows: unknown[][] }[] };
  const result = body.tables[0];
  if (!result) throw new Error("sample without a table");
  const index = result.columns.findIndex((c) => c.name === column);
  expect(index).toBeGreaterThanOrEqual(0);
  result.columns.splice(index, 1);
  for (const row of result.rows) row.splice(index, 1);
  const path = join(dir, `day-${day}-without-${column}.json`);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

/** The ServicePrincipalId each Sentinel incident in the outbox is about, from its description. */
function sentinelIds(): string[] {
  return outboxFiles(outbox)
    .sentinel.map((name) => {
      const body = readJson(join(outbox, "sentinel", name)) as { properties: { description: string } };
      return /ServicePrincipalId: (\S+)/.exec(body.properties.description)?.[1] ?? "";
    })
    .sort();
}

const teamsText = (name: string): string => readFileSync(join(outbox, "teams", name), "utf8");

const counts = (s: RunSummary) => ({
  status: s.status,
  findings: s.findings,
  risky: s.risky,
  new: s.new,
  escalated: s.escalated,
  reopened: s.reopened,
  unchanged: s.unchanged,
  resolved: s.resolved,
  delivered: s.delivered,
  pending: s.pending,
});

const DAY_1_ON_EMPTY_STATE = {
  status: "done",
  findings: 11,
  risky: 7,
  new: 7,
  escalated: 0,
  reopened: 0,
  unchanged: 0,
  resolved: 0,
  delivered: { teams: 7, sentinel: 7 },
  pending: 0,
};

const DAY_1_RISKY = [
  "vm-build-agent-03",
  "mi-payments-prod-weu",
  "func-invoice-export",
  "logic-hr-onboarding",
  "mi-backup",
  // Without the directory file, nothing tells the run this one was deleted, nor names the next one.
  "mi-migration-temp",
  "mi-legacy-etl-weu",
];
const idsOf = (names: readonly string[]) => names.map((n) => IDS[n] ?? n).sort();

describe("runDetection through assembleRun, with replay files, an outbox and Azurite", () => {
  it("gives the documented counts and outbox files for day 1 then day 2 of the samples", async () => {
    const day1 = await run(samplePath(1), DAY_1);

    expect(counts(day1)).toEqual(DAY_1_ON_EMPTY_STATE);
    expect(day1.failures).toEqual([]);
    expect(day1.requests.logAnalytics).toBe(0);
    const afterDay1 = outboxFiles(outbox);
    expect(afterDay1.teams).toHaveLength(1);
    expect(afterDay1.teams[0]).toMatch(/^2026-12-01T06-00-00-000Z-[0-9a-f]{8}-1-of-1\.json$/);
    expect(afterDay1.sentinel).toHaveLength(7);
    expect(sentinelIds()).toEqual(idsOf(DAY_1_RISKY));
    const card1 = teamsText(afterDay1.teams[0] ?? "");
    for (const id of idsOf(DAY_1_RISKY)) expect(card1).toContain(id);
    expect(card1).not.toContain(IDS["mi-reporting-legacy"]);
    expect(await identityRows(table)).toHaveLength(11);

    const day2 = await run(samplePath(2), DAY_2);

    expect(counts(day2)).toEqual({
      status: "done",
      findings: 11,
      risky: 8,
      new: 2,
      escalated: 1,
      reopened: 0,
      unchanged: 8,
      resolved: 1,
      delivered: { teams: 3, sentinel: 3 },
      pending: 0,
    });
    const afterDay2 = outboxFiles(outbox);
    expect(afterDay2.teams).toHaveLength(2);
    const card2Name = afterDay2.teams.find((n) => !afterDay1.teams.includes(n)) ?? "";
    expect(card2Name).toMatch(/^2026-12-02T06-00-00-000Z-[0-9a-f]{8}-1-of-1\.json$/);
    // The escalated identity gets an incident of its own: the fingerprint (id and signal) names the incident.
    expect(afterDay2.sentinel).toHaveLength(10);
    const delivered2 = ["app-contoso-intranet-staging", "func-pricing-sync", "func-invoice-export"];
    const newIncidents = afterDay2.sentinel.filter((n) => !afterDay1.sentinel.includes(n));
    expect(newIncidents).toHaveLength(3);
    const card2 = teamsText(card2Name);
    for (const id of idsOf(delivered2)) expect(card2).toContain(id);
    for (const id of idsOf(["vm-build-agent-03", "mi-payments-prod-weu", "mi-backup", "logic-hr-onboarding"])) {
      expect(card2).not.toContain(id);
    }
    const rows = await identityRows(table);
    expect(rows).toHaveLength(12);
    const hr = rows.find((r) => r.ServicePrincipalId === IDS["logic-hr-onboarding"]);
    expect(hr).toMatchObject({ Status: "resolved", ResolvedAt: DAY_2.toISOString(), Pending: "" });
  });

  it("delivers nothing and writes no identity row when the same replay runs again", async () => {
    await run(samplePath(1), DAY_1);
    const rowsBefore = await identityRows(table);
    const filesBefore = outboxFiles(outbox);

    const again = await run(samplePath(1), DAY_1);

    expect(counts(again)).toEqual({
      ...DAY_1_ON_EMPTY_STATE,
      new: 0,
      unchanged: 11,
      delivered: { teams: 0, sentinel: 0 },
    });
    // Only the lease update and the transaction that releases it with the run record; reads: lease and one page.
    expect(again.requests.storage).toEqual({ reads: 2, writes: 2 });
    expect(await identityRows(table)).toEqual(rowsBefore);
    expect(outboxFiles(outbox)).toEqual(filesBefore);
  });

  it("fails a run whose replay lacks a column, naming it, without touching state or outbox; the next good run is as if it never happened", async () => {
    const broken = sampleWithout(1, "RiskSignal");

    const failed = await run(broken, DAY_1);

    expect(failed.status).toBe("failed");
    expect(exitCodeOf(failed)).toBe(1);
    expect(failed.error).toContain("column RiskSignal (string) is missing");
    expect(failed.error).toContain(broken);
    expect(failed.delivered).toEqual({ teams: 0, sentinel: 0 });
    expect(await identityRows(table)).toEqual([]);
    expect(outboxFiles(outbox)).toEqual({ teams: [], sentinel: [] });
    const runRows = (await entitiesOf(table)).filter((e) => e.partitionKey === "run" && e.rowKey !== "lease");
    expect(runRows.map((r) => r.Status)).toEqual(["failed"]);
    expect(String(runRows[0]?.Error)).toContain("RiskSignal");

    const good = await run(samplePath(1), DAY_1);

    expect(counts(good)).toEqual(DAY_1_ON_EMPTY_STATE);
    expect(outboxFiles(outbox).teams).toHaveLength(1);
    expect(sentinelIds()).toEqual(idsOf(DAY_1_RISKY));
  });

  it("leaves every identity row and the outbox as they were when day 2's replay lacks a column, and day 2 then diffs as documented", async () => {
    await run(samplePath(1), DAY_1);
    const rowsBefore = await identityRows(table);
    const filesBefore = outboxFiles(outbox);

    const failed = await run(sampleWithout(2, "DaysSinceSignin"), DAY_2);

    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("column DaysSinceSignin (long) is missing");
    expect(failed.requests.storage.writes).toBe(2);
    expect(await identityRows(table)).toEqual(rowsBefore);
    expect(outboxFiles(outbox)).toEqual(filesBefore);

    const day2 = await run(samplePath(2), DAY_2);

    expect(counts(day2)).toMatchObject({ status: "done", new: 2, escalated: 1, unchanged: 8, resolved: 1 });
    expect(day2.delivered).toEqual({ teams: 3, sentinel: 3 });
  });

  it("keeps a failed delivery pending and delivers it exactly once on the next run", async () => {
    mkdirSync(outbox);
    // A regular file where the Sentinel folder should be: every incident write fails for real.
    writeFileSync(join(outbox, "sentinel"), "not a folder");

    const first = await run(samplePath(1), DAY_1);

    expect(first.status).toBe("pending");
    expect(exitCodeOf(first)).toBe(3);
    expect(first.delivered).toEqual({ teams: 7, sentinel: 0 });
    expect(first.pending).toBe(7);
    expect(first.failures).toHaveLength(7);
    for (const failure of first.failures)
      expect(failure).toMatch(/^Sentinel incident [0-9a-f-]{36} \(ServicePrincipalId /);
    expect(logged.filter((m) => m.startsWith("Sentinel incident"))).toHaveLength(7);
    const rows = await identityRows(table);
    expect(
      rows
        .filter((r) => r.Pending === "sentinel")
        .map((r) => String(r.ServicePrincipalId))
        .sort(),
    ).toEqual(idsOf(DAY_1_RISKY));
    expect(outboxFiles(outbox).teams).toHaveLength(1);

    rmSync(join(outbox, "sentinel"));
    const second = await run(samplePath(1), DAY_1);

    expect(second.status).toBe("done");
    expect(exitCodeOf(second)).toBe(0);
    expect(second.delivered).toEqual({ teams: 0, sentinel: 7 });
    expect(second.pending).toBe(0);
    expect(second.new).toBe(0);
    expect(sentinelIds()).toEqual(idsOf(DAY_1_RISKY));
    expect(outboxFiles(outbox).teams).toHaveLength(1);
    expect((await identityRows(table)).every((r) => r.Pending === "")).toBe(true);

    const third = await run(samplePath(1), DAY_1);

    expect(third.status).toBe("done");
    expect(third.delivered).toEqual({ teams: 0, sentinel: 0 });
    expect(outboxFiles(outbox).sentinel).toHaveLength(7);
  });

  it("writes a row owed to Sentinel and Teams once after delivery, not once per channel", async () => {
    const day1 = await run(samplePath(1), DAY_1);

    expect(counts(day1)).toEqual(DAY_1_ON_EMPTY_STATE);
    // The table, the lease, the plan, the one Teams message's acknowledgement (carrying Sentinel's), the run record.
    expect(day1.requests.storage.writes).toBe(5);
    expect((await identityRows(table)).every((r) => r.Pending === "")).toBe(true);
  });

  it("stores Sentinel's acknowledgements at the end of the run when Teams, which would have carried them, fails", async () => {
    mkdirSync(outbox);
    // A regular file where the Teams folder should be: the digest fails for real.
    writeFileSync(join(outbox, "teams"), "not a folder");

    const first = await run(samplePath(1), DAY_1);

    const risky = DAY_1_RISKY.length;
    expect(first).toMatchObject({ status: "pending", delivered: { teams: 0, sentinel: risky }, pending: risky });
    const rows = await identityRows(table);
    expect(
      rows
        .filter((r) => r.Pending === "teams")
        .map((r) => String(r.ServicePrincipalId))
        .sort(),
    ).toEqual(idsOf(DAY_1_RISKY));

    rmSync(join(outbox, "teams"));
    const second = await run(samplePath(1), DAY_1);

    expect(second).toMatchObject({ status: "done", delivered: { teams: risky, sentinel: 0 }, pending: 0 });
    expect(sentinelIds()).toEqual(idsOf(DAY_1_RISKY));
    expect((await identityRows(table)).every((r) => r.Pending === "")).toBe(true);
  });

  it("stops counting a delivery as pending once its channel is taken out of NOTIFY_CHANNELS", async () => {
    mkdirSync(outbox);
    writeFileSync(join(outbox, "sentinel"), "not a folder");
    expect((await run(samplePath(1), DAY_1)).status).toBe("pending");

    const teamsOnly = await run(samplePath(1), DAY_1, { NOTIFY_CHANNELS: "teams" });

    expect(teamsOnly.status).toBe("done");
    expect(teamsOnly.pending).toBe(0);
    expect(teamsOnly.delivered).toEqual({ teams: 0, sentinel: 0 });
  });

  it("fails a second run while another run holds the lease, without changing state or outbox", async () => {
    await run(samplePath(1), DAY_1);
    const holder = TableStateStore.fromConnectionString(azuriteConnectionString(), table, { reads: 0, writes: 0 });
    await holder.acquireLease("other-run-in-progress", 10 * 60_000, new Date());
    const entitiesBefore = await entitiesOf(table);
    const filesBefore = outboxFiles(outbox);

    const blocked = await run(samplePath(2), DAY_2);

    expect(blocked.status).toBe("failed");
    expect(exitCodeOf(blocked)).toBe(1);
    expect(blocked.error).toContain("other-run-in-progress");
    expect(blocked.error).toContain("holds the lease");
    expect(blocked.requests.storage.writes).toBe(0);
    expect(blocked.delivered).toEqual({ teams: 0, sentinel: 0 });
    expect(await entitiesOf(table)).toEqual(entitiesBefore);
    expect(outboxFiles(outbox)).toEqual(filesBefore);
  });

  it("tracks findings and delivers nothing when NOTIFY_CHANNELS is none", async () => {
    const day1 = await run(samplePath(1), DAY_1, { NOTIFY_CHANNELS: "none" });
    const day2 = await run(samplePath(2), DAY_2, { NOTIFY_CHANNELS: "none" });

    expect(counts(day1)).toEqual({ ...DAY_1_ON_EMPTY_STATE, delivered: { teams: 0, sentinel: 0 } });
    expect(counts(day2)).toMatchObject({ status: "done", new: 2, escalated: 1, resolved: 1, pending: 0 });
    expect(day2.delivered).toEqual({ teams: 0, sentinel: 0 });
    expect(outboxFiles(outbox)).toEqual({ teams: [], sentinel: [] });
    const rows = await identityRows(table);
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => r.Pending === "")).toBe(true);
  });

  it("never writes the Teams webhook URL or the storage key to the outbox or the state", async () => {
    const token = "sig=Zk9TOPSECRETwebhookSig4f2a7c";
    const settings = {
      TEAMS_WEBHOOK_URL: `https://prod-42.westeurope.logic.azure.com/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&${token}`,
    };
    const accountKey = /AccountKey=([^;]+)/.exec(azuriteConnectionString())?.[1] ?? "";
    expect(accountKey).not.toBe("");

    const day1 = await run(samplePath(1), DAY_1, settings);
    const day2 = await run(samplePath(2), DAY_2, settings);

    expect(day1.delivered).toEqual({ teams: 7, sentinel: 7 });
    expect(day2.delivered).toEqual({ teams: 3, sentinel: 3 });
    const files = outboxFiles(outbox);
    const texts = [
      ...files.teams.map((n) => readFileSync(join(outbox, "teams", n), "utf8")),
      ...files.sentinel.map((n) => readFileSync(join(outbox, "sentinel", n), "utf8")),
    ];
    expect(texts).toHaveLength(12);
    const entities = await entitiesOf(table);
    // Twelve identities, the lease and two run records.
    expect(entities).toHaveLength(15);
    for (const text of [...texts, ...entities.map((e) => JSON.stringify(e)), ...logged]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain("Zk9TOPSECRET");
      expect(text).not.toContain(accountKey);
    }
  });
});
