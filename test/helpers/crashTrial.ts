import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { HANG, startArmPeer } from "./armPeer.js";
import type { Exit } from "./cli.js";
import { spawnCli } from "./cli.js";
import { azuriteConnectionString, uniqueTableName } from "./state.js";
import type { ProxyMoment } from "./tableProxy.js";
import { startTableProxy } from "./tableProxy.js";
import type { Entity } from "./tables.js";
import { entitiesOf, hostileSampleName, samplePath, tableClient } from "./tables.js";
import { startTeamsPeer } from "./teamsPeer.js";

/**
 * One trial of the crash sweep: the built CLI runs day 1 then day 2 of the samples against the strict Teams
 * and ARM stand-ins, with its state behind a proxy in front of Azurite. At most one kill point is armed:
 * the n-th request to one of the three (counted over the whole trial), at a moment around it. A run that is
 * killed is run again, after its lease has been aged past its expiry, until it completes.
 */

export const WORKSPACE =
  "/subscriptions/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-soc-weu/providers/Microsoft.OperationalInsights/workspaces/law-sentinel-weu";
export const WEBHOOK_PATH =
  "/workflows/8c1e4f2a9b7d4e6f8a0b1c2d3e4f5a6b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=crashSweepSignature0123456789";

export const DAYS = [
  { replay: samplePath(1), now: "2026-12-01T06:00:00Z" },
  { replay: samplePath(2), now: "2026-12-02T06:00:00Z" },
] as const;

export type Target = "table" | "arm" | "teams";

export interface KillPoint {
  target: Target;
  /** The request, counted from 1 over the trial, at which the CLI is killed. */
  n: number;
  /**
   * before: the request is not served. during (Table requests with a body): storage gets half the body, then
   * the connection is cut. after: the request is served (stored, posted, created) but the answer never
   * reaches the CLI.
   */
  moment: Exclude<ProxyMoment, "hold">;
}

export interface TrialOutcome {
  kills: number;
  /** Every run's exit, killed ones included, in order. */
  exits: Exit[];
  incidents: { id: string; properties: Record<string, unknown> }[];
  /** Every Teams message the trigger accepted, in order. */
  teams: Record<string, unknown>[];
  /** The state table's entities at the end. */
  entities: Entity[];
  /** Requests each stand-in received, as "METHOD url"; the Table ones with their body size. */
  requests: Record<Target, { method: string; url: string; bodyBytes: number }[]>;
  violations: string[];
}

export const label = (p: KillPoint): string => `${p.target} request ${p.n} (${p.moment})`;

/** Ages the lease left by a killed run past its expiry, which otherwise takes RUN_TIME_BUDGET_SECONDS + 60 s. */
export async function expireLease(table: string, connectionString?: string): Promise<void> {
  const client = connectionString
    ? TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true })
    : tableClient(table);
  try {
    const lease = await client.getEntity("run", "lease");
    await client.updateEntity(
      { partitionKey: "run", rowKey: "lease", Holder: lease.Holder, ExpiresAt: new Date(0).toISOString() },
      "Replace",
      { etag: lease.etag },
    );
  } catch (error) {
    // A run killed before it took the lease left none.
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

export async function runTrial(point: KillPoint | undefined): Promise<TrialOutcome> {
  const table = uniqueTableName("sweep");
  const cwd = mkdtempSync(join(tmpdir(), "stale-mi-sweep-"));
  const arm = await startArmPeer();
  const teams = await startTeamsPeer({ path: WEBHOOK_PATH, hostileNames: [hostileSampleName()] });
  const proxy = await startTableProxy(azuriteConnectionString());
  let current: ChildProcess | undefined;
  let kills = 0;
  let armed = point !== undefined;
  const kill = () => {
    kills++;
    current?.kill("SIGKILL");
  };
  const fires = (target: Target, n: number): boolean => {
    if (!armed || point?.target !== target || point.n !== n) return false;
    armed = false;
    return true;
  };
  proxy.fault = (request) => (fires("table", request.n) ? { moment: point?.moment ?? "before", act: kill } : undefined);
  arm.fault = (_request, _id, serve) => {
    if (!fires("arm", arm.requests.length)) return undefined;
    if (point?.moment === "after") serve();
    kill();
    return HANG;
  };
  teams.fault = (request, n) => {
    if (!fires("teams", n)) return undefined;
    // The trigger took the message; the answer is lost with the process.
    if (point?.moment === "after") teams.accepted.push(JSON.parse(request.body) as Record<string, unknown>);
    kill();
    return HANG;
  };

  const settings = {
    NOTIFY_CHANNELS: "teams,sentinel",
    TEAMS_WEBHOOK_URL: `${teams.url}${WEBHOOK_PATH}`,
    ARM_ENDPOINT: arm.url,
    SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
    STATE_TABLE_NAME: table,
    HUNT_LOOKBACK_DAYS: "365",
    RUN_TIME_BUDGET_SECONDS: "30",
    HUNT_SERVER_TIMEOUT_SECONDS: "20",
  };
  const exits: Exit[] = [];
  try {
    for (const day of DAYS) {
      const args = ["run", "--replay", day.replay, "--now", day.now, "--state-connection", proxy.connectionString];
      // A killed run is run again; one kill per trial, so a third attempt means something else is wrong.
      for (let attempt = 0; attempt < 3; attempt++) {
        const spawned = spawnCli([...args, "--json"], settings, cwd);
        current = spawned.child;
        const exit = await spawned.exit;
        exits.push(exit);
        if (exit.signal !== "SIGKILL") break;
        await expireLease(table);
      }
    }
    return {
      kills,
      exits,
      incidents: [...arm.incidents.values()].map((i) => ({ id: i.name, properties: i.properties })),
      teams: teams.accepted,
      entities: await entitiesOf(table),
      requests: {
        table: proxy.requests.map((r) => ({ method: r.method, url: r.url, bodyBytes: r.body.length })),
        arm: arm.requests.map((r) => ({ method: r.method, url: r.url, bodyBytes: r.body.length })),
        teams: teams.requests.map((r) => ({ method: r.method, url: "(webhook)", bodyBytes: r.body.length })),
      },
      violations: [...arm.violations, ...teams.violations],
    };
  } finally {
    if (current && current.exitCode === null && current.signalCode === null) current.kill("SIGKILL");
    await Promise.all([arm.close(), teams.close(), proxy.close()]);
    rmSync(cwd, { recursive: true, force: true });
  }
}
