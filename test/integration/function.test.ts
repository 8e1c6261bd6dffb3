import type { LogLevel, Timer } from "@azure/functions";
import { InvocationContext } from "@azure/functions";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/config.js";
import { staleIdentityHunt } from "../../src/functions/staleIdentityHunt.js";
import { loadHuntTemplate, renderHunt } from "../../src/hunt/query.js";
import type { GraphPeer } from "../helpers/graphPeer.js";
import { startGraphPeer, syntheticTenant } from "../helpers/graphPeer.js";
import { type Peer, type PeerResponse, type RecordedRequest, startPeer } from "../helpers/httpPeer.js";
import { huntTable, queryError, queryResult } from "../helpers/logAnalytics.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { identityRows } from "../helpers/tables.js";

const WORKSPACE_ID = "6c1f0a2b-3d4e-4f50-8a61-72b3c4d5e6f7";
const STALE_RISKY = "0f6e2d4c-8b1a-4c3e-9d5f-7a6b5c4d3e2f";
const STALE_QUIET = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

const ROWS: Record<string, unknown>[] = [
  {
    ServicePrincipalId: STALE_RISKY,
    ServicePrincipalName: "mi-orders-prod",
    StalenessCategory: "Abandoned (180d+)",
    DaysSinceSignin: 201,
    LastSignin: "2026-05-14T08:00:00Z",
    TotalSignins: 420,
    UniqueResources: 1,
    LastResource: "Azure Key Vault",
    RecentChanges: 1,
    ChangeTypes: '["Add service principal credentials"]',
    LastChange: "2026-11-30T10:00:00Z",
    ChangedBy: '["admin@contoso.com"]',
    AzureOpsCount: 0,
    LastAzureOp: null,
    AzureResources: "[]",
    AzureOperations: "[]",
    RiskSignal: "CredOrRoleChangeOnStaleIdentity",
    IPAddresses: '["20.50.1.2"]',
  },
  {
    ServicePrincipalId: STALE_QUIET,
    ServicePrincipalName: "mi-reports-old",
    StalenessCategory: "Stale (90-179d)",
    DaysSinceSignin: 120,
    LastSignin: "2026-08-03T08:00:00Z",
    TotalSignins: 12,
    UniqueResources: 1,
    LastResource: "Azure Storage",
    RecentChanges: 0,
    ChangeTypes: null,
    LastChange: null,
    ChangedBy: null,
    AzureOpsCount: 0,
    LastAzureOp: null,
    AzureResources: "[]",
    AzureOperations: "[]",
    RiskSignal: "",
    IPAddresses: "[]",
  },
];

const huntResult = (): PeerResponse => queryResult(huntTable(ROWS));

const timer = (isPastDue: boolean): Timer => ({
  isPastDue,
  schedule: { adjustForDST: false },
  scheduleStatus: {
    last: "2026-12-01T06:00:00.000Z",
    next: "2026-12-02T06:00:00.000Z",
    lastUpdated: "2026-12-01T06:00:00.000Z",
  },
});

let peer: Peer | undefined;
let graph: GraphPeer | undefined;
/** The directory: both hunt identities, and one more that the hunt did not return. */
const DIRECTORY = syntheticTenant(3).map((sp, i) => ({ ...sp, id: [STALE_RISKY, STALE_QUIET][i] ?? sp.id }));
let table: string;
let savedEnv: NodeJS.ProcessEnv;
let logs: { level: LogLevel; message: string }[];

beforeEach(() => {
  savedEnv = { ...process.env };
  for (const { name } of SETTINGS) delete process.env[name];
  table = uniqueTableName("fn");
  logs = [];
});

afterEach(async () => {
  process.env = savedEnv;
  await peer?.close();
  await graph?.close();
  peer = undefined;
  graph = undefined;
});

async function withWorkspaceAnswering(respond: (request: RecordedRequest) => PeerResponse): Promise<Peer> {
  peer = await startPeer(respond);
  graph = await startGraphPeer({ servicePrincipals: DIRECTORY });
  Object.assign(process.env, {
    GRAPH_ENDPOINT: graph.url,
    LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE_ID,
    LOG_ANALYTICS_ENDPOINT: `${peer.url}/v1`,
    STATE_CONNECTION: azuriteConnectionString(),
    STATE_TABLE_NAME: table,
    NOTIFY_CHANNELS: "none",
  });
  return peer;
}

const context = () =>
  new InvocationContext({
    invocationId: "3c9e5f1a-0000-4000-8000-000000000001",
    functionName: "staleIdentityHunt",
    logHandler: (level, ...args) => logs.push({ level, message: args.map(String).join(" ") }),
  });

function summaryLines(): { level: LogLevel; summary: Record<string, unknown> }[] {
  return logs
    .filter((l) => l.message.startsWith("{"))
    .map((l) => ({ level: l.level, summary: JSON.parse(l.message) as Record<string, unknown> }))
    .filter((l) => l.summary.event === "staleIdentityHunt.summary");
}

describe("staleIdentityHunt timer function", () => {
  it("runs the hunt against the workspace and logs one summary line with status done", async () => {
    const workspace = await withWorkspaceAnswering(huntResult);

    await staleIdentityHunt(timer(false), context());

    const lines = summaryLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe("information");
    expect(lines[0]?.summary).toMatchObject({
      event: "staleIdentityHunt.summary",
      status: "done",
      findings: 2,
      risky: 1,
      new: 1,
      delivered: { teams: 0, sentinel: 0 },
      pending: 0,
      directory: { inventory: 3, directoryOnly: 0, deleted: 0, disabled: 1, notEnriched: 0 },
      requests: { logAnalytics: 1, graph: 1 },
    });
    expect(graph?.violations).toEqual([]);
    expect(logs.filter((l) => l.level === "warning" || l.level === "error")).toEqual([]);
    expect(workspace.requests).toHaveLength(1);
    const [request] = workspace.requests;
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe(`/v1/workspaces/${WORKSPACE_ID}/query`);
    const defaults = { lookbackDays: 180, staleThresholdDays: 90, allowlistedIpRanges: [] };
    // Enrichment is on by default in Azure: the directory's identities go into the hunt.
    expect(JSON.parse(request?.body ?? "")).toEqual({
      query: renderHunt(
        loadHuntTemplate(),
        defaults,
        DIRECTORY.map((sp) => sp.id),
      ),
      timespan: "P180D",
    });
    const rows = await identityRows(table);
    expect(rows.map((r) => r.ServicePrincipalId).sort()).toEqual([STALE_RISKY, STALE_QUIET].sort());
  });

  it("logs a warning that the timer is past due, and still runs", async () => {
    await withWorkspaceAnswering(huntResult);

    await staleIdentityHunt(timer(true), context());

    const warnings = logs.filter((l) => l.level === "warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain("past due");
    expect(summaryLines().map((l) => l.summary.status)).toEqual(["done"]);
  });

  it("throws an error naming the workspace when Log Analytics answers 500, after logging the failed summary", async () => {
    const workspace = await withWorkspaceAnswering(() =>
      queryError(500, "InternalServerError", "An unexpected error occurred"),
    );

    const error = await staleIdentityHunt(timer(false), context()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain("Stale identity hunt failed");
    expect(error?.message).toContain(`Log Analytics workspace ${WORKSPACE_ID}`);
    expect(error?.message).toContain("HTTP 500");
    const lines = summaryLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe("error");
    expect(lines[0]?.summary).toMatchObject({ status: "failed", findings: 0, requests: { logAnalytics: 2 } });
    expect(workspace.requests).toHaveLength(2);
    expect(await identityRows(table)).toEqual([]);
  });
});
