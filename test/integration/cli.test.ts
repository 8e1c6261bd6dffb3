import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli.js";
import { loadConfig, SETTINGS } from "../../src/config.js";
import { loadHuntTemplate, renderHunt } from "../../src/hunt/query.js";
import type { CapturedOutput } from "../helpers/output.js";
import { captureOutput } from "../helpers/output.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { entitiesOf, outboxFiles, readJson, sampleDirectoryPath, sampleIds, samplePath } from "../helpers/tables.js";

let dir: string;
let outbox: string;
let table: string;
let output: CapturedOutput;
let savedEnv: NodeJS.ProcessEnv;
let savedCwd: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "stale-mi-cli-"));
  outbox = join(dir, "outbox");
  table = uniqueTableName("cli");
  savedEnv = { ...process.env };
  // Only what a test sets: no setting from the machine running the tests, no local.settings.json from the cwd.
  for (const { name } of SETTINGS) delete process.env[name];
  process.env.STATE_TABLE_NAME = table;
  process.env.HUNT_LOOKBACK_DAYS = "365";
  savedCwd = process.cwd();
  process.chdir(dir);
  output = captureOutput();
});

afterEach(() => {
  vi.restoreAllMocks();
  process.chdir(savedCwd);
  process.env = savedEnv;
  rmSync(dir, { recursive: true, force: true });
});

const replayRun = (replay: string, now = "2026-12-01T06:00:00Z") => [
  "run",
  "--replay",
  replay,
  "--state-connection",
  azuriteConnectionString(),
  "--outbox",
  outbox,
  "--json",
  "--now",
  now,
];

/** The one JSON object `run --json` prints. */
function printedSummary(): Record<string, unknown> {
  const lines = output.stdout.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? "") as Record<string, unknown>;
}

describe("stale-mi CLI, called in-process", () => {
  it("prints one JSON summary of a replay run and exits 0", async () => {
    const code = await main(replayRun(samplePath(1)));

    expect(code).toBe(0);
    const summary = printedSummary();
    expect(summary).toMatchObject({
      status: "done",
      findings: 11,
      risky: 7,
      new: 7,
      resolved: 0,
      delivered: { teams: 7, sentinel: 7 },
      pending: 0,
      requests: { logAnalytics: 0, graph: 0, storage: { reads: 2, writes: 5 } },
    });
    // Enrichment is off for a replay without a directory file or a Graph endpoint.
    expect(summary).not.toHaveProperty("directory");
    expect(typeof summary.runId).toBe("string");
    expect(typeof summary.durationMs).toBe("number");
    expect(summary.durationMs).toBeGreaterThanOrEqual(0);
    expect(summary).not.toHaveProperty("error");
    expect(output.stderr).toBe("");
    expect(outboxFiles(outbox).sentinel).toHaveLength(7);
  });

  it("enriches a replay from saved Graph answers with --directory, resolving the deleted identity unsent", async () => {
    const code = await main([...replayRun(samplePath(1)), "--directory", sampleDirectoryPath]);

    expect(code).toBe(0);
    expect(printedSummary()).toMatchObject({
      status: "done",
      findings: 11,
      risky: 6,
      new: 6,
      resolved: 1,
      delivered: { teams: 6, sentinel: 6 },
      directory: { inventory: 14, directoryOnly: 1, deleted: 1, disabled: 1, notEnriched: 0 },
      requests: { graph: 0 },
    });
    expect(outboxFiles(outbox).sentinel).toHaveLength(6);
    const incidents = outboxFiles(outbox).sentinel.map((n) => readFileSync(join(outbox, "sentinel", n), "utf8"));
    expect(incidents.join("\n")).not.toContain(sampleIds()["mi-migration-temp"]);
    expect(incidents.join("\n")).toContain("mi-legacy-etl-weu");
  });

  it("warns that --directory is ignored when GRAPH_ENRICHMENT is off", async () => {
    process.env.GRAPH_ENRICHMENT = "off";
    try {
      expect(await main([...replayRun(samplePath(1)), "--directory", sampleDirectoryPath])).toBe(0);
    } finally {
      delete process.env.GRAPH_ENRICHMENT;
    }
    expect(output.stderr).toContain("--directory is ignored: GRAPH_ENRICHMENT is off");
    expect(printedSummary()).not.toHaveProperty("directory");
  });

  it("exits 1 with the missing column in the summary when the replay lacks a column", async () => {
    const body = readJson(samplePath(1)) as { tables: { columns: { name: string }[]; rows: unknown[][] }[] };
    const result = body.tables[0];
    const index = result?.columns.findIndex((c) => c.name === "ServicePrincipalName") ?? -1;
    expect(index).toBeGreaterThanOrEqual(0);
    result?.columns.splice(index, 1);
    for (const row of result?.rows ?? []) row.splice(index, 1);
    const broken = join(dir, "broken.json");
    writeFileSync(broken, JSON.stringify(body));

    const code = await main(replayRun(broken));

    expect(code).toBe(1);
    const summary = printedSummary();
    expect(summary.status).toBe("failed");
    expect(String(summary.error)).toContain("column ServicePrincipalName (string) is missing");
    expect(outboxFiles(outbox)).toEqual({ teams: [], sentinel: [] });
  });

  it("exits 2 with the usage on an unknown flag", async () => {
    const code = await main(["run", "--replay", samplePath(1), "--frobnicate"]);

    expect(code).toBe(2);
    expect(output.stderr).toContain("--frobnicate");
    expect(output.stderr).toContain("Usage:");
    expect(output.stdout).toBe("");
  });

  it("exits 2 when given both --state and --state-connection", async () => {
    const code = await main(["run", "--state", join(dir, "state"), "--state-connection", azuriteConnectionString()]);

    expect(code).toBe(2);
    expect(output.stderr).toContain("give --state DIR or --state-connection STRING, not both");
    expect(existsSync(join(dir, "state"))).toBe(false);
  });

  it("exits 2 naming both settings when the lookback is not longer than the stale threshold, and touches no state", async () => {
    process.env.HUNT_LOOKBACK_DAYS = "30";
    process.env.HUNT_STALE_THRESHOLD_DAYS = "90";

    const code = await main(replayRun(samplePath(1)));

    expect(code).toBe(2);
    expect(output.stderr).toContain("Invalid settings");
    expect(output.stderr).toContain("HUNT_LOOKBACK_DAYS (30)");
    expect(output.stderr).toContain("HUNT_STALE_THRESHOLD_DAYS (90)");
    expect(output.stdout).toBe("");
    expect(await entitiesOf(table)).toEqual([]);
  });

  it("prints exactly the query a run would send for the current settings with query --print", async () => {
    process.env.HUNT_LOOKBACK_DAYS = "200";
    process.env.HUNT_ALLOWLISTED_IP_RANGES = "10.0.0.0/8, 192.168.10.0/24";

    const code = await main(["query", "--print"]);

    expect(code).toBe(0);
    const config = loadConfig(process.env, { replay: true, outbox: true });
    expect(output.stdout).toBe(renderHunt(loadHuntTemplate(), config.hunt));
    expect(output.stdout).toContain("let LookbackDays = 200d;");
    expect(output.stdout).toContain("let StaleThreshold = 90d;");
    expect(output.stdout).toContain('let AllowlistedIPRanges = dynamic(["10.0.0.0/8","192.168.10.0/24"]);');
    expect(output.stderr).toBe("");
  });

  it("keeps state in its own Azurite under --state DIR, stopped after each run, so a second run sees the first's state", async () => {
    const stateDir = join(dir, "state");
    const args = ["run", "--replay", samplePath(1), "--state", stateDir, "--outbox", outbox, "--json"];

    expect(await main([...args, "--now", "2026-12-01T06:00:00Z"])).toBe(0);
    expect(printedSummary()).toMatchObject({ status: "done", new: 7, delivered: { teams: 7, sentinel: 7 } });
    expect(existsSync(join(stateDir, "__azurite_db_table__.json"))).toBe(true);
    expect(execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })).not.toContain(stateDir);

    output.stdout = "";
    expect(await main([...args, "--now", "2026-12-01T06:00:00Z"])).toBe(0);
    expect(printedSummary()).toMatchObject({
      status: "done",
      findings: 11,
      new: 0,
      unchanged: 11,
      delivered: { teams: 0, sentinel: 0 },
    });
    expect(outboxFiles(outbox).teams).toHaveLength(1);
    expect(execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })).not.toContain(stateDir);
  });
});
