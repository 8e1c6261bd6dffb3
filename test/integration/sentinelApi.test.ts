import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RetryPolicy } from "../../src/notify/http.js";
import { HttpError } from "../../src/notify/http.js";
import { SentinelChannel } from "../../src/notify/sentinel.js";
import { SentinelApi } from "../../src/notify/sentinelApi.js";
import {
  buildIncident,
  DEFAULT_SEVERITIES,
  DESCRIPTION_MAX,
  HUNT_LABEL,
  incidentIdFor,
} from "../../src/notify/sentinelIncident.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { INCIDENT_PATH, startArmPeer, throttled } from "../helpers/armPeer.js";
import { bulkyFinding, context, finding, owed, RUN_DATE, spId } from "../helpers/delivery.js";

const WORKSPACE =
  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-soc/providers/Microsoft.OperationalInsights/workspaces/law-soc";
const FAST: RetryPolicy = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };
/** The token the test credential hands out and the peer accepts. */
const TOKEN = "test-arm-token-5f0c2b";

/** A credential that records every scope asked for and answers with `token`; without one it has none to give. */
function recordingCredential(token?: string): TokenCredential & { scopes: string[] } {
  const scopes: string[] = [];
  return {
    scopes,
    getToken: async (scope: string | string[], _options?: GetTokenOptions): Promise<AccessToken | null> => {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      if (token === undefined) throw new Error("no token in tests");
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
}

let arm: ArmPeer;
let credential: ReturnType<typeof recordingCredential>;

beforeEach(async () => {
  arm = await startArmPeer({ token: TOKEN });
  credential = recordingCredential(TOKEN);
});

afterEach(async () => {
  await arm.close();
  // Every request the product made spoke the API: path, api-version, token and body schema.
  expect(arm.violations).toEqual([]);
});

const api = () => new SentinelApi(arm.url, WORKSPACE, credential, FAST);
const channel = () => new SentinelChannel(api(), WORKSPACE, DEFAULT_SEVERITIES);
const incidentOf = (f = finding(), episode = 1) => incidentIdFor(WORKSPACE, f, episode);
const incidentBody = (f = finding()) => buildIncident(f, { severities: DEFAULT_SEVERITIES, now: RUN_DATE });

describe("SentinelApi", () => {
  it("PUTs to exactly the documented incident path with api-version=2025-12-01", async () => {
    const id = incidentOf();
    await api().putIncident(id, incidentBody(), context());

    expect(arm.requests).toHaveLength(1);
    const [request] = arm.requests;
    expect(request?.method).toBe("PUT");
    expect(request?.url).toBe(
      `${WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/${id}?api-version=2025-12-01`,
    );
    expect(INCIDENT_PATH.exec(request?.url ?? "")?.slice(1)).toEqual([
      "00000000-0000-0000-0000-000000000001",
      "rg-soc",
      "law-soc",
      id,
    ]);
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(arm.incidents.get(id)?.properties).toEqual(incidentBody().properties);
  });

  it("sends Authorization: Bearer with the credential's token, asked for the loopback endpoint's origin + /.default", async () => {
    await api().putIncident(incidentOf(), incidentBody(), context());
    expect(await api().exists(incidentOf(), context())).toBe(true);

    expect(arm.requests.map((r) => r.method)).toEqual(["PUT", "GET"]);
    for (const request of arm.requests) expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const { port } = new URL(arm.url);
    expect(credential.scopes).toEqual([`http://127.0.0.1:${port}/.default`, `http://127.0.0.1:${port}/.default`]);
  });

  it("fails at once, without retrying, when the workspace answers 401 to a token it does not accept", async () => {
    const wrong = new SentinelApi(arm.url, WORKSPACE, recordingCredential("some-other-token"), FAST);
    const error = await wrong.putIncident(incidentOf(), incidentBody(), context()).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(401);
    expect((error as HttpError).attempts).toBe(1);
    expect((error as HttpError).message).toContain("401 AuthenticationFailed");
    expect((error as HttpError).message).not.toContain("some-other-token");
    expect(arm.requests).toHaveLength(1);
    expect(arm.incidents.size).toBe(0);
    // The peer refused it for the token; that refusal is what this test is about.
    expect(arm.violations).toHaveLength(1);
    arm.violations.length = 0;
  });

  it("asks the credential for an ARM token for https://management.azure.com/.default on a real endpoint", async () => {
    // This credential throws, so no request leaves the machine.
    const none = recordingCredential();
    const remote = new SentinelApi("https://management.azure.com", WORKSPACE, none, FAST);
    await expect(remote.putIncident(incidentOf(), incidentBody(), context())).rejects.toThrow("no token in tests");
    expect(none.scopes).toEqual(["https://management.azure.com/.default"]);
  });

  it("tells an existing incident (200) from a missing one (404)", async () => {
    await api().putIncident(incidentOf(), incidentBody(), context());
    expect(await api().exists(incidentOf(), context())).toBe(true);
    expect(await api().exists(incidentOf(finding({ servicePrincipalId: spId(2) })), context())).toBe(false);
    expect(arm.calls("GET")).toHaveLength(2);
  });
});

describe("SentinelChannel over the SecurityInsights API", () => {
  it("creates the incident with its title, severity, status New, labels and a description of at most 5,000 characters", async () => {
    const f = bulkyFinding(7);
    const ctx = context();
    const report = await channel().deliver([owed(f)], ctx);

    expect(report).toEqual({ delivered: [f.servicePrincipalId], failures: [] });
    expect(ctx.acknowledged).toEqual([[f.servicePrincipalId]]);
    const body = JSON.parse(arm.calls("PUT")[0]?.body ?? "") as { properties: Record<string, unknown> };
    const properties = body.properties;
    expect(properties.title).toMatch(/^Stale managed identity mi-7-x+/);
    expect(properties.title).toContain("Credential or role change on a stale identity");
    expect(properties.severity).toBe("High");
    expect(properties.status).toBe("New");
    expect(properties.labels).toEqual(
      [HUNT_LABEL, "CredOrRoleChangeOnStaleIdentity", "T1078.004", "T1098.001"].map((labelName) => ({ labelName })),
    );
    expect(typeof properties.description).toBe("string");
    expect((properties.description as string).length).toBeLessThanOrEqual(DESCRIPTION_MAX);
    expect(properties.description).toContain(f.servicePrincipalId);
  });

  it.each([
    ["CredOrRoleChangeOnStaleIdentity", "High"],
    ["AzureActivityWithoutSignIn", "High"],
    ["CreatedAndModifiedButNeverUsed", "Medium"],
    ["SomeSignalNobodyMapped", "Medium"],
  ])("gives a %s finding a %s incident", async (riskSignal, severity) => {
    await channel().deliver([owed(finding({ riskSignal }))], context());
    const body = JSON.parse(arm.calls("PUT")[0]?.body ?? "") as { properties: { severity: string } };
    expect(body.properties.severity).toBe(severity);
  });

  it("targets the same incident id when the same delivery runs twice, so the workspace holds one incident", async () => {
    const first = await channel().deliver([owed(finding())], context());
    const second = await channel().deliver([owed(finding())], context());

    expect(first.delivered).toEqual([spId(1)]);
    expect(second.delivered).toEqual([spId(1)]);
    const puts = arm.calls("PUT");
    expect(puts).toHaveLength(2);
    expect(puts[1]?.url).toBe(puts[0]?.url);
    expect(arm.incidents.size).toBe(1);
    expect([...arm.incidents.keys()]).toEqual([incidentOf()]);
  });

  it("opens another incident for another episode of the same finding", async () => {
    await channel().deliver([owed(finding(), { episode: 1 })], context());
    await channel().deliver([owed(finding(), { episode: 2 })], context());
    expect(arm.incidents.size).toBe(2);
  });

  it("on a retry GETs first and leaves an existing incident alone, keeping the analyst's changes", async () => {
    await channel().deliver([owed(finding())], context());
    const incident = arm.incidents.get(incidentOf());
    if (!incident) throw new Error("the first delivery created no incident");
    incident.properties = {
      ...incident.properties,
      status: "Active",
      owner: { assignedTo: "analyst@contoso.example" },
    };
    arm.requests.length = 0;

    const ctx = context();
    const report = await channel().deliver([owed(finding(), { retry: true })], ctx);

    expect(report).toEqual({ delivered: [spId(1)], failures: [] });
    expect(ctx.acknowledged).toEqual([[spId(1)]]);
    expect(arm.requests.map((r) => r.method)).toEqual(["GET"]);
    expect(arm.incidents.get(incidentOf())?.properties).toMatchObject({
      status: "Active",
      owner: { assignedTo: "analyst@contoso.example" },
    });
  });

  it("on a retry creates the incident when the GET answers 404", async () => {
    const report = await channel().deliver([owed(finding(), { retry: true })], context());

    expect(report.delivered).toEqual([spId(1)]);
    expect(arm.requests.map((r) => r.method)).toEqual(["GET", "PUT"]);
    expect(arm.incidents.has(incidentOf())).toBe(true);
  });

  it("succeeds when a 500 is followed by a 201", async () => {
    let failed = false;
    arm.fault = (request) => {
      if (request.method !== "PUT" || failed) return undefined;
      failed = true;
      return { status: 500, body: { error: { code: "InternalServerError", message: "try again" } } };
    };
    const report = await channel().deliver([owed(finding())], context());

    expect(report).toEqual({ delivered: [spId(1)], failures: [] });
    expect(arm.calls("PUT")).toHaveLength(2);
    expect(arm.incidents.size).toBe(1);
  });

  it("succeeds when a 429 with Retry-After: 0 is followed by a 201", async () => {
    let throttledOnce = false;
    arm.fault = (request) => {
      if (request.method !== "PUT" || throttledOnce) return undefined;
      throttledOnce = true;
      return throttled(0);
    };
    const report = await channel().deliver([owed(finding())], context());

    expect(report).toEqual({ delivered: [spId(1)], failures: [] });
    expect(arm.calls("PUT")).toHaveLength(2);
    expect(arm.incidents.size).toBe(1);
  });

  it("leaves a finding undelivered on a 400, naming the incident id, the ServicePrincipalId, the method and URL", async () => {
    const bad = finding({ servicePrincipalId: spId(2) });
    arm.fault = (request, incidentId) =>
      request.method === "PUT" && incidentId === incidentOf(bad)
        ? { status: 400, body: { error: { code: "BadRequest", message: "Invalid incident properties" } } }
        : undefined;
    const ctx = context();
    const report = await channel().deliver(
      [owed(finding()), owed(bad), owed(finding({ servicePrincipalId: spId(3) }))],
      ctx,
    );

    expect(report.delivered).toEqual([spId(1), spId(3)]);
    expect(ctx.acknowledged.flat()).toEqual([spId(1), spId(3)]);
    expect(report.failures).toHaveLength(1);
    const [line] = report.failures;
    expect(line).toContain(`Sentinel incident ${incidentOf(bad)}`);
    expect(line).toContain(`ServicePrincipalId ${spId(2)}`);
    expect(line).toContain(
      `PUT ${arm.url}${WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/${incidentOf(bad)}`,
    );
    expect(line).toContain("api-version=2025-12-01");
    expect(line).toContain("400 BadRequest: Invalid incident properties");
    // A final 4xx is not retried.
    expect(arm.calls("PUT").filter((r) => r.url.includes(incidentOf(bad)))).toHaveLength(1);
    expect(arm.incidents.size).toBe(2);
  });
});
