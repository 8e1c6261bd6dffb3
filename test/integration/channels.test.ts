import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runOnce } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { incidentIdFor, incidentUrlFor } from "../../src/notify/sentinelIncident.js";
import type { Logger, RunSummary } from "../../src/run.js";
import { summaryJson } from "../../src/summary.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { HANG, startArmPeer, throttled } from "../helpers/armPeer.js";
import { openUrls } from "../helpers/cards.js";
import { finding } from "../helpers/findings.js";
import type { GraphPeer } from "../helpers/graphPeer.js";
import { sampleServicePrincipals, startGraphPeer } from "../helpers/graphPeer.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import {
  DAY_1,
  DAY_2,
  hostileSampleName,
  identityRows,
  sampleDirectoryPath,
  sampleIds,
  samplePath,
} from "../helpers/tables.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer } from "../helpers/teamsPeer.js";

/**
 * The "Done when": both channels pointed at the strict loopback stand-ins, two runs over the sample
 * days give exactly the expected incidents and cards, the second only for what is new, and no payload breaks
 * a check of either stand-in. A loopback Graph serves the sample directory, as production would: the identity
 * deleted from it is never sent, the one only it knows is.
 */

const WORKSPACE =
  "/subscriptions/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b/resourceGroups/rg-soc-weu/providers/Microsoft.OperationalInsights/workspaces/law-sentinel-weu";
const SECRET = "q9ZtV3kW8xN2pR7sL4mB6cJ1hF5dG0aE";
const WEBHOOK_PATH = `/workflows/8c1e4f2a9b7d4e6f8a0b1c2d3e4f5a6b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${SECRET}`;
const IDS = sampleIds();

const HIGH = "High";
/** Each identity's incident: its signal, the severity the default map gives it, and its episode in the diff. */
const DAY_1_INCIDENTS = [
  { name: "vm-build-agent-03", signal: "AzureActivityWithoutSignIn", severity: HIGH, episode: 1 },
  { name: "mi-payments-prod-weu", signal: "CredOrRoleChangeOnStaleIdentity", severity: HIGH, episode: 1 },
  { name: "func-invoice-export", signal: "AzureActivityWithoutSignIn", severity: HIGH, episode: 1 },
  { name: "logic-hr-onboarding", signal: "CredOrRoleChangeOnStaleIdentity", severity: HIGH, episode: 1 },
  { name: "mi-backup", signal: "CreatedAndModifiedButNeverUsed", severity: "Medium", episode: 1 },
  { name: "mi-legacy-etl-weu", signal: "CredOrRoleChangeOnStaleIdentity", severity: HIGH, episode: 1 },
];
/** Every delivered change starts a new episode: the tracked identity that turned risky, and the escalation. */
const DAY_2_INCIDENTS = [
  { name: "app-contoso-intranet-staging", signal: "CredOrRoleChangeOnStaleIdentity", severity: HIGH, episode: 2 },
  { name: "func-pricing-sync", signal: "AzureActivityWithoutSignIn", severity: HIGH, episode: 1 },
  { name: "func-invoice-export", signal: "CredOrRoleChangeOnStaleIdentity", severity: HIGH, episode: 2 },
];
type Expected = (typeof DAY_1_INCIDENTS)[number];

const idOf = (name: string): string => {
  const id = IDS[name];
  if (!id) throw new Error(`no sample identity ${name}`);
  return id;
};
const incidentOf = (e: Expected) =>
  incidentIdFor(WORKSPACE, finding({ servicePrincipalId: idOf(e.name), riskSignal: e.signal }), e.episode);

let table: string;
let arm: ArmPeer;
let teams: TeamsPeer;
let graph: GraphPeer;
let logged: string[];
const log: Logger = {
  info: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  error: (m) => logged.push(m),
};

beforeEach(async () => {
  table = uniqueTableName("channels");
  logged = [];
  arm = await startArmPeer();
  teams = await startTeamsPeer({ path: WEBHOOK_PATH, hostileNames: [hostileSampleName()] });
  graph = await startGraphPeer({ servicePrincipals: sampleServicePrincipals(sampleDirectoryPath) });
});

afterEach(async () => {
  expect(graph.violations).toEqual([]);
  await Promise.all([arm.close(), teams.close(), graph.close()]);
});

/**
 * One run as the timer does it. `runTimeBudgetMs` shortens the run's budget below the 30 s the setting allows,
 * so a test can watch a hung request run out of it without waiting half a minute.
 */
async function run(day: 1 | 2, options: { runTimeBudgetMs?: number } = {}): Promise<RunSummary> {
  const config = loadConfig(
    {
      TEAMS_WEBHOOK_URL: `${teams.url}${WEBHOOK_PATH}`,
      ARM_ENDPOINT: arm.url,
      GRAPH_ENDPOINT: graph.url,
      SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
      NOTIFY_CHANNELS: "teams,sentinel",
      HUNT_LOOKBACK_DAYS: "365",
      STATE_TABLE_NAME: table,
    },
    { replay: true },
  );
  return await runOnce(
    config,
    {
      replay: samplePath(day),
      state: { kind: "connection", connectionString: azuriteConnectionString() },
      now: day === 1 ? DAY_1 : DAY_2,
    },
    log,
    options,
  );
}

/** The sample identities a card shows, by name. */
const shownIn = (body: unknown): string[] =>
  Object.entries(IDS)
    .filter(([, id]) => JSON.stringify(body).includes(id))
    .map(([name]) => name)
    .sort();

const names = (incidents: readonly Expected[]) => [...new Set(incidents.map((e) => e.name))].sort();
/** The channels an identity's row still owes, sorted. */
const pendingOf = async (name: string): Promise<string[]> =>
  String((await identityRows(table)).find((r) => r.ServicePrincipalId === idOf(name))?.Pending)
    .split(",")
    .filter(Boolean)
    .sort();

function expectIncident(e: Expected) {
  const incident = arm.incidents.get(incidentOf(e));
  expect(incident, `incident for ${e.name} (${e.signal})`).toBeDefined();
  const properties = incident?.properties ?? {};
  expect(properties.severity).toBe(e.severity);
  expect(properties.status).toBe("New");
  expect(properties.labels).toContainEqual({ labelName: e.signal });
  expect(properties.description).toContain(`ServicePrincipalId: ${idOf(e.name)}`);
  expect(properties.title).toMatch(/^Stale managed identity /);
}

describe("both channels against the strict Teams and ARM stand-ins", () => {
  it("creates 6 incidents and one card on day 1, then 3 incidents and one card of only the new on day 2, with no payload refused", async () => {
    const day1 = await run(1);

    expect(day1).toMatchObject({
      status: "done",
      new: 6,
      resolved: 1,
      delivered: { teams: 6, sentinel: 6 },
      pending: 0,
      failures: [],
    });
    expect([...arm.incidents.keys()].sort()).toEqual(DAY_1_INCIDENTS.map(incidentOf).sort());
    DAY_1_INCIDENTS.forEach(expectIncident);
    expect(arm.calls("PUT")).toHaveLength(6);
    // The identity deleted from the directory is resolved, in no incident and on no card.
    expect(JSON.stringify([...arm.incidents.values()])).not.toContain(idOf("mi-migration-temp"));
    expect(arm.calls("GET")).toHaveLength(0);
    expect(teams.requests).toHaveLength(1);
    expect(teams.accepted).toHaveLength(1);
    const card1 = teams.accepted[0];
    expect(shownIn(card1)).toEqual(names(DAY_1_INCIDENTS));
    expect(JSON.stringify(card1)).toContain("6 new risky findings");
    expect(JSON.stringify(card1)).toContain("user-assigned");
    for (const e of DAY_1_INCIDENTS) expect(openUrls(card1)).toContain(incidentUrlFor(WORKSPACE, incidentOf(e)));
    // The hostile name reaches Sentinel with none of the characters that make a link, tag or emphasis.
    const backup = arm.incidents.get(incidentOf(DAY_1_INCIDENTS[4] as Expected))?.properties;
    expect(backup?.title).toContain("mi-backup");
    expect(backup?.title).not.toMatch(/[[\]<>*`]/);
    expect(backup?.description).not.toMatch(/[[\]<>*`]/);

    const day2 = await run(2);

    expect(day2).toMatchObject({
      status: "done",
      new: 2,
      escalated: 1,
      resolved: 1,
      delivered: { teams: 3, sentinel: 3 },
      pending: 0,
      failures: [],
    });
    const all = [...DAY_1_INCIDENTS, ...DAY_2_INCIDENTS];
    expect([...arm.incidents.keys()].sort()).toEqual(all.map(incidentOf).sort());
    DAY_2_INCIDENTS.forEach(expectIncident);
    // Each incident was PUT once, on its own day; nothing was read back, nothing re-sent.
    for (const e of all) expect(arm.methodsFor(incidentOf(e)), e.name).toEqual(["PUT"]);
    expect(arm.requests).toHaveLength(9);
    expect(teams.accepted).toHaveLength(2);
    const card2 = teams.accepted[1];
    expect(shownIn(card2)).toEqual(names(DAY_2_INCIDENTS));
    expect(JSON.stringify(card2)).toContain("3 new risky findings");
    const urls2 = openUrls(card2);
    for (const e of DAY_2_INCIDENTS) expect(urls2).toContain(incidentUrlFor(WORKSPACE, incidentOf(e)));
    for (const e of DAY_1_INCIDENTS) expect(urls2).not.toContain(incidentUrlFor(WORKSPACE, incidentOf(e)));

    expect(arm.violations).toEqual([]);
    expect(teams.violations).toEqual([]);
    for (const text of [...logged, JSON.stringify(summaryJson(day1)), JSON.stringify(summaryJson(day2))]) {
      expect(text).not.toContain(SECRET);
    }
  });

  it("creates the incident when ARM first answers 429 with Retry-After: 0, then 201", async () => {
    let throttledId: string | undefined;
    arm.fault = (request, incidentId) => {
      if (request.method !== "PUT" || throttledId !== undefined) return undefined;
      throttledId = incidentId;
      return throttled(0);
    };

    const summary = await run(1);

    expect(summary).toMatchObject({ status: "done", delivered: { teams: 6, sentinel: 6 }, pending: 0, failures: [] });
    expect(throttledId).toBeDefined();
    expect(arm.methodsFor(throttledId ?? "")).toEqual(["PUT", "PUT"]);
    expect([...arm.incidents.keys()].sort()).toEqual(DAY_1_INCIDENTS.map(incidentOf).sort());
    expect(openUrls(teams.accepted[0])).toContain(incidentUrlFor(WORKSPACE, throttledId ?? ""));
    expect(arm.violations).toEqual([]);
    expect(teams.violations).toEqual([]);
  });

  it("leaves a finding pending when ARM hangs on its PUT past the run's time budget, and the next run creates it exactly once", async () => {
    // The last of the day's five PUTs never gets an answer: the four before it are created and acknowledged.
    let puts = 0;
    let hungId: string | undefined;
    arm.fault = (request, incidentId) => {
      if (request.method !== "PUT") return undefined;
      if (++puts === 6) hungId = incidentId;
      return incidentId === hungId ? HANG : undefined;
    };

    const first = await run(1, { runTimeBudgetMs: 3000 });

    const hung = DAY_1_INCIDENTS.find((e) => incidentOf(e) === hungId);
    if (!hung) throw new Error(`the hung PUT ${hungId} is not one of day 1's incidents`);
    expect(arm.methodsFor(hungId ?? "")).toEqual(["PUT"]);
    // The hang spent the budget, so the digest waits for the next run too.
    expect(first).toMatchObject({ status: "pending", delivered: { teams: 0, sentinel: 5 }, pending: 6 });
    expect(first.failures).toHaveLength(2);
    expect(first.failures[0]).toContain(`Sentinel incident ${hungId}`);
    expect(first.failures[0]).toContain("time budget");
    expect(first.failures[1]).toContain("1 Teams message left pending");
    expect([...arm.incidents.keys()].sort()).toEqual(
      DAY_1_INCIDENTS.filter((e) => e !== hung)
        .map(incidentOf)
        .sort(),
    );
    expect(await pendingOf(hung.name)).toEqual(["sentinel", "teams"]);
    expect(teams.requests).toHaveLength(0);

    arm.fault = undefined;
    const before = arm.requests.length;
    const second = await run(1);

    expect(second).toMatchObject({
      status: "done",
      delivered: { teams: 6, sentinel: 1 },
      pending: 0,
      failures: [],
    });
    // A retry looks first (404), then creates it: one more PUT, for this incident alone.
    expect(arm.requests.slice(before).map((r) => `${r.method} ${r.url.includes(hungId ?? "?")}`)).toEqual([
      "GET true",
      "PUT true",
    ]);
    expect(arm.methodsFor(hungId ?? "")).toEqual(["PUT", "GET", "PUT"]);
    expect([...arm.incidents.keys()].sort()).toEqual(DAY_1_INCIDENTS.map(incidentOf).sort());
    expect(await pendingOf(hung.name)).toEqual([]);
    // The late digest links every incident, the one created late included.
    expect(teams.accepted).toHaveLength(1);
    for (const e of DAY_1_INCIDENTS) {
      expect(openUrls(teams.accepted[0])).toContain(incidentUrlFor(WORKSPACE, incidentOf(e)));
    }
    expect(arm.violations).toEqual([]);
    expect(teams.violations).toEqual([]);
  });
});
