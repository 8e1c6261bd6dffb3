import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runOnce } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { RunSummary } from "../../src/run.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { HANG, startArmPeer } from "../helpers/armPeer.js";
import type { Exit, Spawned } from "../helpers/cli.js";
import { buildCli, killIfRunning, spawnCli } from "../helpers/cli.js";
import { DAYS, WEBHOOK_PATH, WORKSPACE } from "../helpers/crashTrial.js";
import { sampleDay } from "../helpers/sampleDays.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import type { TableProxy } from "../helpers/tableProxy.js";
import { startTableProxy } from "../helpers/tableProxy.js";
import { DAY_1, entitiesOf, hostileSampleName, identityRows } from "../helpers/tables.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer } from "../helpers/teamsPeer.js";

/**
 * Two runs at once on the same state, as two CLI processes (or the CLI and the timer): one runs, the other
 * exits 1 naming the lease holder and sends nothing. A lease left by a killed run blocks the next run only
 * until it expires, RUN_TIME_BUDGET_SECONDS + 60 s after it was taken.
 */

const BUDGET_SECONDS = 30;
/** Day 1's risky identities: one incident each. */
const N = sampleDay(1).riskyIds.length;
const LEASE_MS = (BUDGET_SECONDS + 60) * 1000;

let table: string;
let cwd: string;
let arm: ArmPeer;
let teams: TeamsPeer;
let proxy: TableProxy;
const children: Spawned[] = [];

beforeAll(buildCli, 120_000);

beforeEach(async () => {
  table = uniqueTableName("lease");
  cwd = mkdtempSync(join(tmpdir(), "stale-mi-lease-"));
  arm = await startArmPeer();
  teams = await startTeamsPeer({ path: WEBHOOK_PATH, hostileNames: [hostileSampleName()] });
  proxy = await startTableProxy(azuriteConnectionString());
});

afterEach(async () => {
  for (const spawned of children.splice(0)) killIfRunning(spawned.child);
  await Promise.all([arm.close(), teams.close(), proxy.close()]);
  rmSync(cwd, { recursive: true, force: true });
});

const SETTINGS = () => ({
  NOTIFY_CHANNELS: "teams,sentinel",
  TEAMS_WEBHOOK_URL: `${teams.url}${WEBHOOK_PATH}`,
  ARM_ENDPOINT: arm.url,
  SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
  STATE_TABLE_NAME: table,
  HUNT_LOOKBACK_DAYS: "365",
  RUN_TIME_BUDGET_SECONDS: String(BUDGET_SECONDS),
  HUNT_SERVER_TIMEOUT_SECONDS: "20",
});

function startCli(): Spawned {
  const day = DAYS[0];
  const args = ["run", "--replay", day.replay, "--now", day.now, "--state-connection", proxy.connectionString];
  const spawned = spawnCli([...args, "--json"], SETTINGS(), cwd);
  children.push(spawned);
  return spawned;
}

const summaryOf = (exit: Exit) => JSON.parse(exit.stdout) as { runId: string; status: string; error?: string };

async function leaseRow() {
  return (await entitiesOf(table)).find((e) => e.partitionKey === "run" && e.rowKey === "lease");
}

function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The same day in-process, with the wall clock `aheadMs` ahead: the time that passes before the next run. */
async function runLater(aheadMs: number): Promise<RunSummary> {
  const config = loadConfig({ ...SETTINGS(), HUNT_SERVER_TIMEOUT_SECONDS: "20" }, { replay: true });
  return await runOnce(
    config,
    {
      replay: DAYS[0].replay,
      state: { kind: "connection", connectionString: azuriteConnectionString() },
      now: DAY_1,
    },
    { info: () => {}, warn: () => {}, error: () => {} },
    { wallClock: () => Date.now() + aheadMs },
  );
}

const putsPerIncident = () =>
  [...arm.incidents.keys()].map((id) => arm.methodsFor(id).filter((m) => m === "PUT").length);

describe("two runs on the same state", () => {
  it("lets the second exit 1 naming the holder while the first is delivering, and delivers once", async () => {
    const firstPut = deferred();
    const release = deferred();
    arm.fault = (request, _id, serve) => {
      if (request.method !== "PUT" || arm.calls("PUT").length !== 1) return undefined;
      firstPut.resolve();
      return release.promise.then(serve);
    };

    const a = startCli();
    await firstPut.promise;
    const holder = String((await leaseRow())?.Holder);
    const b = await startCli().exit;
    release.resolve();
    const first = await a.exit;

    expect(b.code, b.stderr).toBe(1);
    const blocked = summaryOf(b);
    expect(blocked.status).toBe("failed");
    expect(blocked.error).toMatch(
      new RegExp(
        `^Another run \\(${holder}\\) holds the lease on table ${table} at \\S+ until \\S+; this run did nothing\\.`,
      ),
    );
    expect(first.code, first.stderr).toBe(0);
    expect(summaryOf(first)).toMatchObject({ runId: holder, status: "done" });
    expect(arm.incidents.size).toBe(N);
    expect(putsPerIncident()).toEqual(Array(N).fill(1));
    expect(teams.accepted).toHaveLength(1);
    expect((await leaseRow())?.Holder).toBe("");
  });

  it("lets exactly one of two runs that read the free lease at the same moment take it", async () => {
    // Both processes' first request (the lease read) is held until both have made it, then both go on.
    const bothRead = deferred();
    let reads = 0;
    proxy.fault = (request) => {
      if (request.method !== "GET" || !request.url.includes("RowKey='lease'") || ++reads > 2) return undefined;
      if (reads === 2) bothRead.resolve();
      return { moment: "hold", act: () => bothRead.promise };
    };

    const [x, y] = await Promise.all([startCli().exit, startCli().exit]);

    // The two held reads, and the loser's read of who won.
    expect(reads).toBe(3);
    const exits = [x, y].sort((p, q) => (p.code ?? 9) - (q.code ?? 9));
    expect(exits.map((e) => e.code)).toEqual([0, 1]);
    const [winner, loser] = exits.map(summaryOf);
    expect(winner?.status).toBe("done");
    expect(loser?.error).toContain(`Another run (${winner?.runId}) holds the lease on table ${table}`);
    expect(putsPerIncident()).toEqual(Array(N).fill(1));
    expect(teams.accepted).toHaveLength(1);
  });

  it("blocks the next run while a killed run's lease lasts, and lets it through once it has expired", async () => {
    let hungId: string | undefined;
    arm.fault = (request, incidentId) => {
      if (request.method !== "PUT") return undefined;
      hungId = incidentId;
      killIfRunning(children[0]?.child);
      return HANG;
    };
    const killed = await startCli().exit;
    expect(killed.signal).toBe("SIGKILL");
    const lease = await leaseRow();
    const holder = String(lease?.Holder);
    const until = String(lease?.ExpiresAt);
    expect(holder).not.toBe("");
    arm.fault = undefined;

    const blocked = await startCli().exit;

    expect(blocked.code).toBe(1);
    expect(summaryOf(blocked).error).toContain(`Another run (${holder}) holds the lease on table ${table}`);
    expect(summaryOf(blocked).error).toContain(`until ${until}`);
    // Just before the lease runs out it still holds; just after, the next run takes it and finishes the day.
    const early = await runLater(Date.parse(until) - Date.now() - 5_000);
    expect(early.status).toBe("failed");
    expect(early.error).toContain(holder);
    expect(Date.parse(until) - Date.now()).toBeLessThanOrEqual(LEASE_MS);

    const later = await runLater(Date.parse(until) - Date.now() + 1_000);

    expect(later).toMatchObject({ status: "done", new: 0, delivered: { teams: N, sentinel: N }, pending: 0 });
    // Every delivery is a retry of the killed run's plan: looked up first, then created, once each.
    expect(arm.incidents.size).toBe(N);
    for (const id of arm.incidents.keys()) {
      expect(arm.methodsFor(id), id).toEqual(id === hungId ? ["PUT", "GET", "PUT"] : ["GET", "PUT"]);
    }
    expect(teams.accepted).toHaveLength(1);
    expect((await identityRows(table)).filter((r) => r.Pending !== "")).toEqual([]);
    expect((await leaseRow())?.Holder).toBe("");
  });
});
