import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runOnce } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { GraphDirectory } from "../../src/graph/source.js";
import { LOOPBACK_CREDENTIAL } from "../../src/notify/sentinelApi.js";
import type { Logger, RunSummary } from "../../src/run.js";
import type { GraphPeer, GraphServicePrincipal } from "../helpers/graphPeer.js";
import { forbidden, HANG, startGraphPeer, syntheticTenant, tenantId, throttled } from "../helpers/graphPeer.js";
import { startPeer } from "../helpers/httpPeer.js";
import { huntTable } from "../helpers/logAnalytics.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { identityRows } from "../helpers/tables.js";

/**
 * Microsoft Graph enrichment against a loopback Graph: the SDK's own middleware (retry, paging through our
 * next-link handling, the token) talks to a server speaking Graph's wire format, counted at the HTTP layer.
 */

let graph: GraphPeer;
let dir: string;
let logged: string[];
const log: Logger = { info: (m) => logged.push(m), warn: (m) => logged.push(m), error: (m) => logged.push(m) };
const inAMinute = () => Date.now() + 60_000;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "stale-mi-graph-"));
  logged = [];
});

/** Peers this test started, closed after it (a test without Graph must not close the last test's again). */
const open: GraphPeer[] = [];
async function startGraph(options: Parameters<typeof startGraphPeer>[0]): Promise<GraphPeer> {
  const peer = await startGraphPeer(options);
  open.push(peer);
  return peer;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((peer) => peer.close()));
  rmSync(dir, { recursive: true, force: true });
});

function directory(peer: GraphPeer) {
  let requests = 0;
  const source = new GraphDirectory({
    endpoint: peer.url,
    credential: LOOPBACK_CREDENTIAL,
    onRequest: () => requests++,
  });
  return { source, requests: () => requests };
}

describe("GraphDirectory against a loopback Graph", () => {
  it("lists every managed identity across pages by following @odata.nextLink, and nothing else", async () => {
    const other: GraphServicePrincipal = {
      ...(syntheticTenant(1)[0] as GraphServicePrincipal),
      id: "30000000-0000-4000-8000-000000000001",
      servicePrincipalType: "Application",
    };
    graph = await startGraph({ servicePrincipals: [...syntheticTenant(5), other], pageSize: 2 });
    const { source, requests } = directory(graph);

    const identities = await source.listManagedIdentities(inAMinute());

    expect(identities.map((i) => i.id)).toEqual([0, 1, 2, 3, 4].map(tenantId));
    expect(requests()).toBe(3);
    expect(graph.count("list")).toBe(3);
    expect(identities[0]).toMatchObject({ kind: "user-assigned", accountEnabled: false, appId: expect.any(String) });
    expect(identities[1]).toMatchObject({ kind: "system-assigned", accountEnabled: true });
    expect(identities[1]?.resourceId).toMatch(/\/providers\/Microsoft\.Web\/sites\/mi-synthetic-1$/);
    expect(graph.violations).toEqual([]);
  });

  it("looks ids up with getByIds and returns only those that exist", async () => {
    graph = await startGraph({ servicePrincipals: syntheticTenant(3) });
    const { source } = directory(graph);
    const gone = "40000000-0000-4000-8000-000000000009";

    const found = await source.getByIds([tenantId(2), gone, tenantId(0)], inAMinute());

    expect(found.map((i) => i.id).sort()).toEqual([tenantId(0), tenantId(2)].sort());
    expect(graph.count("getByIds")).toBe(1);
    expect(graph.violations).toEqual([]);
  });

  it("waits out a 429's Retry-After and then succeeds, counting both requests", async () => {
    graph = await startGraph({ servicePrincipals: syntheticTenant(2) });
    let throttledOnce = false;
    graph.fault = () => {
      if (throttledOnce) return undefined;
      throttledOnce = true;
      return throttled(1);
    };
    const { source, requests } = directory(graph);
    const started = Date.now();

    const identities = await source.listManagedIdentities(inAMinute());

    expect(identities).toHaveLength(2);
    expect(requests()).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("gives up on a 429 whose Retry-After would outlast the run, saying so", async () => {
    graph = await startGraph({ servicePrincipals: syntheticTenant(2) });
    graph.fault = () => throttled(120);
    const { source, requests } = directory(graph);

    const error = await source.listManagedIdentities(Date.now() + 10_000).catch((e: unknown) => e as Error);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^Microsoft Graph GET http:\/\/127\.0\.0\.1:\d+\/v1\.0\/servicePrincipals failed: 429 TooManyRequests: throttled/,
    );
    expect(requests()).toBe(1);
  });

  it("names the missing Application.Read.All permission on a 403", async () => {
    graph = await startGraph({ servicePrincipals: syntheticTenant(2) });
    graph.fault = () => forbidden();
    const { source } = directory(graph);

    const error = await source.getByIds([tenantId(0)], inAMinute()).catch((e: unknown) => e as Error);

    expect((error as Error).message).toContain("POST");
    expect((error as Error).message).toContain(
      "/v1.0/directoryObjects/getByIds failed: 403 Authorization_RequestDenied",
    );
    expect((error as Error).message).toContain("Application.Read.All");
    expect((error as Error).message).toContain("infra/grant-graph-permissions.sh");
  });

  it("gives up on a Graph that never answers at the run's deadline", async () => {
    graph = await startGraph({ servicePrincipals: syntheticTenant(2) });
    graph.fault = () => HANG;
    const { source } = directory(graph);
    const started = Date.now();

    const error = await source.listManagedIdentities(Date.now() + 1500).catch((e: unknown) => e as Error);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("servicePrincipals failed: no answer before the run's deadline");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("refuses a next link to another host, so the token never leaves the Graph endpoint", async () => {
    const elsewhere = await startPeer(() => ({ status: 200, body: { value: [] } }));
    try {
      graph = await startGraph({ servicePrincipals: syntheticTenant(2) });
      graph.fault = () => ({
        status: 200,
        body: { value: [], "@odata.nextLink": `${elsewhere.url}/v1.0/servicePrincipals?$skiptoken=1` },
      });
      const { source } = directory(graph);

      const error = await source.listManagedIdentities(inAMinute()).catch((e: unknown) => e as Error);

      expect((error as Error).message).toMatch(/next link outside .*; not followed/);
      expect(elsewhere.requests).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  });
});

/** A hunt result holding `ids`, risky or (for the large tenants, to keep deliveries out of it) not. */
function huntFor(ids: readonly string[], risky = true): string {
  const rows = ids.map((id, i) => ({
    ServicePrincipalId: id,
    ServicePrincipalName: `mi-hunt-${i}`,
    StalenessCategory: "Stale (90-179d)",
    DaysSinceSignin: 120,
    LastSignin: "2026-08-03T08:00:00Z",
    TotalSignins: 3,
    UniqueResources: 1,
    LastResource: "Azure Storage",
    RecentChanges: 1,
    ChangeTypes: '["Add service principal credentials"]',
    LastChange: "2026-11-30T10:00:00Z",
    ChangedBy: '["admin@contoso.example"]',
    AzureOpsCount: 0,
    LastAzureOp: null,
    AzureResources: "[]",
    AzureOperations: "[]",
    RiskSignal: risky ? "CredOrRoleChangeOnStaleIdentity" : "",
    IPAddresses: "[]",
    DiscoveredBy: "SignInLogs",
  }));
  const file = join(dir, `hunt-${ids.length}.json`);
  writeFileSync(file, JSON.stringify({ tables: [{ name: "PrimaryResult", ...huntTable(rows) }] }));
  return file;
}

async function runWithGraph(
  replay: string,
  table = uniqueTableName("graph"),
  channels = "teams,sentinel",
): Promise<RunSummary> {
  const config = loadConfig(
    { GRAPH_ENDPOINT: graph.url, NOTIFY_CHANNELS: channels, STATE_TABLE_NAME: table },
    { replay: true, outbox: true },
  );
  return await runOnce(
    config,
    {
      replay,
      outbox: join(dir, "outbox"),
      state: { kind: "connection", connectionString: azuriteConnectionString() },
      now: new Date("2026-12-01T06:00:00Z"),
    },
    log,
  );
}

describe("a run with Graph enrichment", () => {
  it("enriches a 5,000-identity tenant with the inventory pages and one getByIds for the ids it lacks", async () => {
    const tenant = syntheticTenant(5000);
    // 4,500 of the hunt's identities are in the directory; 500 were deleted since the logs were written.
    graph = await startGraph({ servicePrincipals: tenant.slice(0, 4500) });
    const replay = huntFor(
      tenant.map((sp) => sp.id),
      false,
    );

    const summary = await runWithGraph(replay, uniqueTableName("graph5k"), "none");

    expect(graph.count("list")).toBe(5);
    expect(graph.count("getByIds")).toBe(1);
    expect(summary.requests.graph).toBe(6);
    expect(summary.directory).toEqual({
      inventory: 4500,
      directoryOnly: 0,
      deleted: 500,
      disabled: 90,
      notEnriched: 0,
    });
    expect(summary).toMatchObject({ status: "done", findings: 5000, risky: 0, resolved: 500 });
    expect(graph.violations).toEqual([]);
  }, 120_000);

  it("asks for all 5,000 by id in 5 getByIds calls when the inventory cannot be listed", async () => {
    const tenant = syntheticTenant(5000);
    graph = await startGraph({ servicePrincipals: tenant });
    graph.fault = (request) =>
      request.method === "GET"
        ? { status: 500, body: { error: { code: "InternalServerError", message: "x" } } }
        : undefined;

    const summary = await runWithGraph(
      huntFor(
        tenant.map((sp) => sp.id),
        false,
      ),
      uniqueTableName("graphids"),
      "none",
    );

    expect(graph.count("getByIds")).toBe(5);
    expect(summary.requests.graph).toBe(6);
    expect(summary.directory).toMatchObject({ inventory: null, deleted: 0, notEnriched: 0 });
    expect(summary.directory?.error).toMatch(/^Directory inventory from Microsoft Graph .* failed: .*500/);
    expect(summary.status).toBe("done");
  }, 120_000);

  it("still delivers when Graph refuses with 403, marking every finding not enriched and naming the permission", async () => {
    graph = await startGraph({ servicePrincipals: syntheticTenant(3) });
    graph.fault = () => forbidden();
    const table = uniqueTableName("graph403");

    const summary = await runWithGraph(huntFor(syntheticTenant(3).map((sp) => sp.id)), table);

    expect(summary).toMatchObject({ status: "done", new: 3, delivered: { teams: 3, sentinel: 3 } });
    expect(summary.directory).toMatchObject({ inventory: null, notEnriched: 3, deleted: 0 });
    expect(summary.directory?.error).toContain("Application.Read.All");
    const stored = (await identityRows(table)).map((r) => JSON.parse(String(r.Finding)).directory);
    expect(stored).toEqual(Array(3).fill({ status: "not enriched" }));
    expect(logged.some((m) => m.includes("403"))).toBe(true);
  });
});

describe("a run with a directory replay file", () => {
  it.each([
    { case: "a file that is not JSON", content: "{ not json", says: /Cannot read directory replay file .*: / },
    {
      case: "a body with an object that has no usable id",
      content: JSON.stringify({ value: [{ id: "not-a-guid" }] }),
      says: /item 1 is not usable: id "not-a-guid" is not an object id/,
    },
  ])("goes on without the directory when it holds $case, and says why", async ({ content, says }) => {
    const file = join(dir, "directory.json");
    writeFileSync(file, content);
    const ids = syntheticTenant(2).map((sp) => sp.id);
    const config = loadConfig(
      { NOTIFY_CHANNELS: "none", STATE_TABLE_NAME: uniqueTableName("dirbad") },
      {
        replay: true,
        outbox: true,
        directory: true,
      },
    );
    const summary = await runOnce(
      config,
      {
        replay: huntFor(ids),
        directory: file,
        state: { kind: "connection", connectionString: azuriteConnectionString() },
        now: new Date("2026-12-01T06:00:00Z"),
      },
      log,
    );

    expect(summary).toMatchObject({ status: "done", findings: 2, new: 2 });
    expect(summary.directory).toMatchObject({ inventory: null, notEnriched: 2, deleted: 0 });
    expect(summary.directory?.error).toMatch(says);
    expect(logged.join("\n")).toMatch(says);
  });
});
