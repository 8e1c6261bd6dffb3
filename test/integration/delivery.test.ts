import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runOnce } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { incidentUrlFor } from "../../src/notify/sentinelIncident.js";
import type { Logger, RunSummary } from "../../src/run.js";
import { summaryJson } from "../../src/summary.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { startArmPeer } from "../helpers/armPeer.js";
import { openUrls } from "../helpers/cards.js";
import type { PeerAnswer, PeerResponse, RecordedRequest } from "../helpers/httpPeer.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { DAY_1, entitiesOf, hostileSampleName, identityRows, samplePath } from "../helpers/tables.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer } from "../helpers/teamsPeer.js";

const WORKSPACE =
  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-soc/providers/Microsoft.OperationalInsights/workspaces/law-soc";
const SECRET = "SuperSecretSig";
const WEBHOOK_PATH = `/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sig=${SECRET}`;
// Without the directory file nothing says one of them was deleted: all 7 risky rows are sent.
const RISKY_ON_DAY_1 = 7;

let table: string;
let arm: ArmPeer;
let teams: TeamsPeer;
/** How the Teams trigger answers a message that passed its checks; undefined lets it accept (202). */
let teamsAnswer: (request: RecordedRequest) => PeerAnswer | undefined;
let logged: { level: keyof Logger; message: string }[];

const log: Logger = {
  info: (message) => logged.push({ level: "info", message }),
  warn: (message) => logged.push({ level: "warn", message }),
  error: (message) => logged.push({ level: "error", message }),
};

beforeEach(async () => {
  table = uniqueTableName("deliver");
  logged = [];
  teamsAnswer = () => undefined;
  // Both stand-ins check every request: the product's payloads must pass, whatever a test makes them answer.
  arm = await startArmPeer();
  teams = await startTeamsPeer({ path: WEBHOOK_PATH, hostileNames: [hostileSampleName()] });
  teams.fault = (request) => teamsAnswer(request);
});

afterEach(async () => {
  await Promise.all([arm.close(), teams.close()]);
  expect(arm.violations).toEqual([]);
  expect(teams.violations).toEqual([]);
});

/** One whole run as the timer does it, with the day-1 sample replayed and both channels on loopback peers. */
async function run(): Promise<RunSummary> {
  const config = loadConfig(
    {
      TEAMS_WEBHOOK_URL: `${teams.url}${WEBHOOK_PATH}`,
      ARM_ENDPOINT: arm.url,
      SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
      NOTIFY_CHANNELS: "teams,sentinel",
      STATE_TABLE_NAME: table,
      HUNT_LOOKBACK_DAYS: "365",
    },
    { replay: true },
  );
  return await runOnce(
    config,
    {
      replay: samplePath(1),
      state: { kind: "connection", connectionString: azuriteConnectionString() },
      now: DAY_1,
    },
    log,
  );
}

/** Every Action.OpenUrl target in the Teams messages received so far. */
const openUrlsIn = (requests: readonly RecordedRequest[]): string[] =>
  openUrls(...requests.map((r) => JSON.parse(r.body) as unknown));

const pendingOf = async (): Promise<string[]> => (await identityRows(table)).map((e) => String(e.Pending));

const finalBadRequest = (message: string): PeerResponse => ({
  status: 400,
  body: { error: { code: "BadRequest", message } },
});

describe("delivery in a whole run", () => {
  it("creates 7 incidents on day 1, then posts one Teams message whose card links each incident", async () => {
    const summary = await run();

    expect(summary).toMatchObject({
      status: "done",
      risky: RISKY_ON_DAY_1,
      new: RISKY_ON_DAY_1,
      delivered: { teams: RISKY_ON_DAY_1, sentinel: RISKY_ON_DAY_1 },
      pending: 0,
      failures: [],
    });
    expect(arm.calls("PUT")).toHaveLength(RISKY_ON_DAY_1);
    expect(arm.calls("GET")).toHaveLength(0);
    expect(arm.incidents.size).toBe(RISKY_ON_DAY_1);
    expect(teams.requests).toHaveLength(1);

    const urls = openUrlsIn(teams.requests);
    for (const incidentId of arm.incidents.keys()) {
      expect(urls).toContain(incidentUrlFor(WORKSPACE, incidentId));
    }
    // Sentinel goes first, so the card can link what it created.
    expect(Math.max(...arm.arrivals)).toBeLessThan(Math.min(...teams.arrivals));
    expect(await pendingOf()).toEqual(Array(11).fill(""));
  });

  it("ends pending when Teams answers 400, and the next run posts the digest once without touching Sentinel", async () => {
    teamsAnswer = () => finalBadRequest("The card is not valid.");
    const first = await run();

    expect(first).toMatchObject({
      status: "pending",
      delivered: { teams: 0, sentinel: RISKY_ON_DAY_1 },
      pending: RISKY_ON_DAY_1,
    });
    expect(first.failures).toHaveLength(1);
    expect(first.failures[0]).toContain("Teams message 1 of 1 to the Teams webhook (TEAMS_WEBHOOK_URL)");
    expect(first.failures[0]).toContain("400 BadRequest: The card is not valid.");
    expect(teams.requests).toHaveLength(1);
    expect(arm.incidents.size).toBe(RISKY_ON_DAY_1);
    expect((await pendingOf()).filter((p) => p !== "")).toEqual(Array(RISKY_ON_DAY_1).fill("teams"));

    teamsAnswer = () => undefined;
    const putsBefore = arm.calls("PUT").length;
    const second = await run();

    expect(second).toMatchObject({
      status: "done",
      delivered: { teams: RISKY_ON_DAY_1, sentinel: 0 },
      pending: 0,
      failures: [],
    });
    expect(teams.requests).toHaveLength(2);
    expect(arm.calls("PUT")).toHaveLength(putsBefore);
    expect(arm.calls("GET")).toHaveLength(0);
    expect(arm.incidents.size).toBe(RISKY_ON_DAY_1);
    // The digest sent late still links every incident.
    const urls = openUrlsIn(teams.requests.slice(1));
    for (const incidentId of arm.incidents.keys()) {
      expect(urls).toContain(incidentUrlFor(WORKSPACE, incidentId));
    }
  });

  it("still posts to Teams when Sentinel refuses one incident, and creates that incident on the next run", async () => {
    let refused: string | undefined;
    arm.fault = (request, incidentId) => {
      if (request.method !== "PUT") return undefined;
      refused ??= incidentId;
      return incidentId === refused ? finalBadRequest("Invalid incident properties") : undefined;
    };
    const first = await run();

    expect(refused).toBeDefined();
    expect(first).toMatchObject({
      status: "pending",
      delivered: { teams: RISKY_ON_DAY_1, sentinel: RISKY_ON_DAY_1 - 1 },
      pending: 1,
    });
    expect(first.failures).toHaveLength(1);
    expect(first.failures[0]).toContain(`Sentinel incident ${refused}`);
    expect(arm.incidents.size).toBe(RISKY_ON_DAY_1 - 1);
    expect(teams.requests).toHaveLength(1);
    // The card links the incidents that exist, and only those.
    const urls = openUrlsIn(teams.requests);
    for (const incidentId of arm.incidents.keys()) expect(urls).toContain(incidentUrlFor(WORKSPACE, incidentId));
    expect(urls).not.toContain(incidentUrlFor(WORKSPACE, refused ?? ""));
    expect((await pendingOf()).filter((p) => p !== "")).toEqual(["sentinel"]);

    arm.fault = undefined;
    arm.requests.length = 0;
    const second = await run();

    expect(second).toMatchObject({
      status: "done",
      delivered: { teams: 0, sentinel: 1 },
      pending: 0,
      failures: [],
    });
    // A retry checks first, then creates what is missing.
    expect(arm.requests.map((r) => `${r.method} ${r.url.includes(refused ?? "?") ? "refused" : "other"}`)).toEqual([
      "GET refused",
      "PUT refused",
    ]);
    expect(arm.incidents.size).toBe(RISKY_ON_DAY_1);
    expect(teams.requests).toHaveLength(1);
  });

  it("keeps the webhook URL's signature out of every log line, summary field and Table entity", async () => {
    // A failing Teams run that echoes the URL it was called on, then a succeeding one.
    teamsAnswer = (request) => finalBadRequest(`Trigger ${request.url} rejected the card`);
    const failed = await run();
    expect(failed.status).toBe("pending");
    teamsAnswer = () => undefined;
    const done = await run();
    expect(done.status).toBe("done");

    expect(logged.length).toBeGreaterThan(0);
    const entities = await entitiesOf(table);
    expect(entities.length).toBeGreaterThan(9);
    for (const text of [
      ...logged.map((l) => l.message),
      JSON.stringify(failed),
      JSON.stringify(summaryJson(failed)),
      JSON.stringify(done),
      JSON.stringify(summaryJson(done)),
      ...entities.map((e) => JSON.stringify(e)),
    ]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(WEBHOOK_PATH);
    }
  });
});
