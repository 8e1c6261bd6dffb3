import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ArmPeer } from "../helpers/armPeer.js";
import { HANG, startArmPeer } from "../helpers/armPeer.js";
import { buildCli } from "../helpers/cli.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { entitiesOf, identityRows, tableClient } from "../helpers/tables.js";

/**
 * "Crash between a Sentinel PUT and its acknowledgement, then re-run: one incident, not two", for real: the
 * built CLI runs as a child process, and the ARM stand-in kills it (SIGKILL) after storing the first incident
 * and before answering, so the workspace has the incident and the detector's state never heard of it.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CLI = join(ROOT, "dist", "src", "cli.js");
const DAY_1 = join(ROOT, "samples", "day-1.json");
const WORKSPACE =
  "/subscriptions/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-soc-weu/providers/Microsoft.OperationalInsights/workspaces/law-sentinel-weu";
// Without the directory file nothing says one of them was deleted: all 7 risky rows are sent.
const RISKY_ON_DAY_1 = 7;

// Shared with the fault suites, which spawn the CLI too: one build per test run, never two at once.
beforeAll(buildCli, 120_000);

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let arm: ArmPeer;
let table: string;
let cwd: string;
let child: ChildProcess | undefined;

beforeEach(async () => {
  arm = await startArmPeer();
  table = uniqueTableName("crash");
  // An empty working directory: the CLI reads local.settings.json from its cwd, and must see no settings but ours.
  cwd = mkdtempSync(join(tmpdir(), "stale-mi-crash-"));
});

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  child = undefined;
  await arm.close();
  rmSync(cwd, { recursive: true, force: true });
});

/** `stale-mi run` over day 1 against the ARM stand-in, with only these settings: none of the parent's. */
function runCli(): Promise<Exit> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    ...(process.env.SYSTEMROOT ? { SYSTEMROOT: process.env.SYSTEMROOT } : {}),
    NOTIFY_CHANNELS: "sentinel",
    ARM_ENDPOINT: arm.url,
    SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
    STATE_TABLE_NAME: table,
    HUNT_LOOKBACK_DAYS: "365",
    RUN_TIME_BUDGET_SECONDS: "30",
    // Valid for a live run as well: the query timeout (default 180 s) must be shorter than the budget.
    HUNT_SERVER_TIMEOUT_SECONDS: "20",
  };
  const args = [CLI, "run", "--replay", DAY_1, "--now", "2026-12-01T06:00:00Z"];
  args.push("--state-connection", azuriteConnectionString(), "--json");
  return new Promise((resolve, reject) => {
    const spawned = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    child = spawned;
    let stdout = "";
    let stderr = "";
    spawned.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    spawned.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    spawned.once("error", reject);
    spawned.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const pendingRows = async () => (await identityRows(table)).filter((r) => String(r.Pending).includes("sentinel"));

describe("a run killed between a Sentinel PUT and its acknowledgement", () => {
  it("leaves one incident, not two, after the re-run", async () => {
    let crashedId: string | undefined;
    arm.fault = (request, incidentId, serve) => {
      if (request.method !== "PUT" || crashedId !== undefined) return undefined;
      crashedId = incidentId;
      // The workspace creates the incident; the detector dies before the answer reaches it.
      serve();
      child?.kill("SIGKILL");
      return HANG;
    };

    const crashed = await runCli();

    expect(crashed.signal, crashed.stderr).toBe("SIGKILL");
    expect(crashed.stdout).toBe("");
    expect(crashedId).toBeDefined();
    expect([...arm.incidents.keys()]).toEqual([crashedId]);
    // The plan was stored before delivery, and nothing was acknowledged: every risky identity still owes Sentinel.
    expect(await pendingRows()).toHaveLength(RISKY_ON_DAY_1);
    const lease = (await entitiesOf(table)).find((e) => e.partitionKey === "run" && e.rowKey === "lease");
    expect(lease?.Holder).not.toBe("");
    expect(Date.parse(String(lease?.ExpiresAt))).toBeGreaterThan(Date.now());

    // Stands in for the lease expiring: it lasts RUN_TIME_BUDGET_SECONDS + 60 s (90 s here), too long to wait.
    await tableClient(table).deleteEntity("run", "lease");
    arm.fault = undefined;
    const rerun = await runCli();

    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({
      status: "done",
      new: 0,
      delivered: { teams: 0, sentinel: RISKY_ON_DAY_1 },
      pending: 0,
    });
    expect(arm.incidents.size).toBe(RISKY_ON_DAY_1);
    // The crashed incident is a retry: the re-run looked it up, found it, and did not PUT it again.
    expect(arm.methodsFor(crashedId ?? "")).toEqual(["PUT", "GET"]);
    for (const id of arm.incidents.keys()) {
      if (id !== crashedId) expect(arm.methodsFor(id), id).toEqual(["GET", "PUT"]);
    }
    // One incident per identity.
    const identities = [...arm.incidents.values()].map(
      (i) => /ServicePrincipalId: (\S+)/.exec(String(i.properties.description))?.[1],
    );
    expect(new Set(identities).size).toBe(RISKY_ON_DAY_1);
    expect(await pendingRows()).toEqual([]);
    expect(arm.violations).toEqual([]);
  });
});
