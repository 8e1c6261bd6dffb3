import type { TokenCredential } from "@azure/identity";
import { afterEach, describe, expect, it } from "vitest";
import { parseFindings } from "../../src/hunt/parse.js";
import { HuntSourceError, LogAnalyticsSource, SERVICE_ROW_LIMIT } from "../../src/hunt/source.js";
import { type Peer, type PeerResponse, type RecordedRequest, startPeer } from "../helpers/httpPeer.js";
import { huntTable, type QueryTable, queryError, queryResult } from "../helpers/logAnalytics.js";

const WORKSPACE_ID = "3f2b8c1e-7d4a-4e5b-9c6d-0a1b2c3d4e5f";
const QUERY = "AADManagedIdentitySignInLogs | summarize LastSignin = max(TimeGenerated) by ServicePrincipalId";
const TIMESPAN = { duration: "P180D" };
const STATISTICS = { query: { executionTime: 0.42, resourceUsage: { cache: { memory: { hitCount: 3 } } } } };

// Never asked for: the source drops the bearer policy on loopback. Were it asked, the request would carry its token.
const credential: TokenCredential = {
  getToken: async () => ({ token: "x", expiresOnTimestamp: Date.now() + 3600e3 }),
};

let peer: Peer | undefined;

afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

async function sourceAnswering(respond: (request: RecordedRequest) => PeerResponse | Promise<PeerResponse>) {
  const started = await startPeer(respond);
  peer = started;
  const counter = { requests: 0 };
  const source = new LogAnalyticsSource({
    workspaceId: WORKSPACE_ID,
    endpoint: `${started.url}/v1`,
    serverTimeoutSeconds: 120,
    credential,
    onRequest: () => {
      counter.requests++;
    },
  });
  return { source, peer: started, counter };
}

const ok = (table: QueryTable, extra: object = {}): PeerResponse =>
  queryResult(table, { statistics: STATISTICS, ...extra });

async function failureOf(promise: Promise<unknown>): Promise<HuntSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HuntSourceError);
  return error as HuntSourceError;
}

describe("LogAnalyticsSource against a loopback Log Analytics peer", () => {
  it("returns the table with datetimes as ISO strings and dynamic values parsed, after one POST to the workspace's query path", async () => {
    const columns = [
      { name: "ServicePrincipalId", type: "string" },
      { name: "LastSignin", type: "datetime" },
      { name: "LastChange", type: "datetime" },
      { name: "TotalSignins", type: "long" },
      { name: "IPAddresses", type: "dynamic" },
    ];
    const { source, peer, counter } = await sourceAnswering(() =>
      ok({
        columns,
        rows: [
          ["sp-1", "2025-03-14T08:21:37.4410000Z", null, 12, '["20.50.1.2","10.0.0.4"]'],
          ["sp-2", "2024-11-02T23:59:59Z", "2025-01-05T10:00:00Z", 0, "[]"],
        ],
      }),
    );

    const output = await source.run(QUERY, TIMESPAN);

    expect(output).toEqual({
      table: {
        columns,
        rows: [
          ["sp-1", "2025-03-14T08:21:37.441Z", null, 12, ["20.50.1.2", "10.0.0.4"]],
          ["sp-2", "2024-11-02T23:59:59.000Z", "2025-01-05T10:00:00.000Z", 0, []],
        ],
      },
      statistics: STATISTICS,
    });
    expect(peer.requests).toHaveLength(1);
    const [request] = peer.requests;
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe(`/v1/workspaces/${WORKSPACE_ID}/query`);
    expect(JSON.parse(request?.body ?? "")).toEqual({ query: QUERY, timespan: "P180D" });
    expect(request?.headers["content-type"]).toMatch(/^application\/json/);
    expect(request?.headers.prefer).toBe("wait=120,include-statistics=true");
    expect(request?.headers.authorization).toBeUndefined();
    expect(counter.requests).toBe(1);
  });

  it("turns a full hunt row from the service into a Finding with every column's value", async () => {
    const row: Record<string, unknown> = {
      ServicePrincipalId: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
      ServicePrincipalName: "mi-data-export",
      StalenessCategory: "Abandoned (180d+)",
      DaysSinceSignin: 203,
      LastSignin: "2024-08-24T06:12:45.1230000Z",
      TotalSignins: 1874,
      UniqueResources: 2,
      LastResource: "Azure Storage",
      RecentChanges: 1,
      ChangeTypes: '["Add app role assignment to service principal"]',
      LastChange: "2025-02-10T14:03:00Z",
      ChangedBy: '["admin@contoso.com"]',
      AzureOpsCount: 0,
      LastAzureOp: null,
      AzureResources: "[]",
      AzureOperations: "[]",
      RiskSignal: "CredOrRoleChangeOnStaleIdentity",
      IPAddresses: '["20.50.1.2"]',
      DiscoveredBy: "SignInLogs",
    };
    const { source } = await sourceAnswering(() => ok(huntTable([row])));

    const { table } = await source.run(QUERY, TIMESPAN);

    expect(parseFindings(table, source.description)).toEqual([
      {
        servicePrincipalId: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        servicePrincipalName: "mi-data-export",
        stalenessCategory: "Abandoned (180d+)",
        daysSinceSignin: 203,
        lastSignin: "2024-08-24T06:12:45.123Z",
        totalSignins: 1874,
        uniqueResources: 2,
        lastResource: "Azure Storage",
        recentChanges: 1,
        changeTypes: ["Add app role assignment to service principal"],
        lastChange: "2025-02-10T14:03:00.000Z",
        changedBy: ["admin@contoso.com"],
        azureOpsCount: 0,
        lastAzureOp: null,
        azureResources: [],
        azureOperations: [],
        riskSignal: "CredOrRoleChangeOnStaleIdentity",
        ipAddresses: ["20.50.1.2"],
        discoveredBy: "SignInLogs",
        extra: {},
      },
    ]);
  });

  it("fails with a HuntSourceError naming the workspace and the service's error when the result is a partial failure", async () => {
    const { source } = await sourceAnswering(() =>
      ok(
        { columns: [{ name: "ServicePrincipalId", type: "string" }], rows: [["sp-1"]] },
        {
          error: {
            code: "PartialError",
            message: "There were some errors when processing your query.",
            details: [{ code: "EngineError", message: "Query execution has exceeded the allowed limits" }],
          },
        },
      ),
    );

    const error = await failureOf(source.run(QUERY, TIMESPAN));

    expect(error.message).toContain(`Log Analytics workspace ${WORKSPACE_ID}`);
    expect(error.message).toContain("PartialError: There were some errors when processing your query.");
    expect(error.message).toContain("partial result");
  });

  for (const { title, response, says, requests } of [
    {
      title:
        "fails with a HuntSourceError naming the workspace, the request and the status when the service answers 400",
      response: queryError(400, "BadArgumentError", "Query could not be parsed"),
      says: "HTTP 400 BadArgumentError: Query could not be parsed",
      requests: 1,
    },
    {
      title:
        "fails with a HuntSourceError naming the request and the status when the service answers 500, after one retry",
      response: queryError(500, "InternalServerError", "An unexpected error occurred"),
      says: "HTTP 500 InternalServerError: An unexpected error occurred",
      requests: 2,
    },
  ]) {
    it(title, async () => {
      const { source, peer, counter } = await sourceAnswering(() => response);

      const error = await failureOf(source.run(QUERY, TIMESPAN));

      expect(error.message).toContain(`Log Analytics workspace ${WORKSPACE_ID}`);
      expect(error.message).toContain(`POST ${peer.url}/v1/workspaces/${WORKSPACE_ID}/query`);
      expect(error.message).toContain(says);
      expect(peer.requests).toHaveLength(requests);
      expect(counter.requests).toBe(requests);
    });
  }

  it("fails with a message saying the result is truncated when it reaches the service's row limit", async () => {
    // Built as text: half a million row arrays through JSON.stringify would only slow the test down.
    const body = `{"tables":[{"name":"PrimaryResult","columns":[{"name":"n","type":"long"}],"rows":[${"[1],".repeat(SERVICE_ROW_LIMIT - 1)}[1]]}]}`;
    const { source } = await sourceAnswering(() => ({
      status: 200,
      headers: { "content-type": "application/json" },
      body,
    }));

    const error = await failureOf(source.run(QUERY, TIMESPAN));

    expect(error.message).toContain(`Log Analytics workspace ${WORKSPACE_ID}`);
    expect(error.message).toContain(`${SERVICE_ROW_LIMIT} rows`);
    expect(error.message).toContain("truncated");
  });
});

describe("LogAnalyticsSource and the run's time budget", () => {
  it("gives up on a workspace that never answers once the run's deadline passes, naming the workspace", async () => {
    const { source, counter } = await sourceAnswering(() => new Promise<PeerResponse>(() => {}));
    const started = Date.now();

    const error = await failureOf(source.run(QUERY, TIMESPAN, started + 2_000));

    expect(error.message).toContain(`Log Analytics workspace ${WORKSPACE_ID}`);
    expect(counter.requests).toBeGreaterThanOrEqual(1);
    // Two attempts of at most half the remaining budget each, plus the SDK's retry delay.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
