import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runOnce } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { Logger, RunSummary } from "../../src/run.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { HANG, serverError, startArmPeer, throttled } from "../helpers/armPeer.js";
import { WEBHOOK_PATH, WORKSPACE } from "../helpers/crashTrial.js";
import type { PeerResponse } from "../helpers/httpPeer.js";
import { RESET } from "../helpers/httpPeer.js";
import { sampleDay } from "../helpers/sampleDays.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { DAY_1, hostileSampleName, identityRows, samplePath } from "../helpers/tables.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer } from "../helpers/teamsPeer.js";

/**
 * Peers misbehave: the Teams and ARM stand-ins throttle in storms with Retry-After, fail with 500, never
 * answer, or reset the connection. Deliveries are retried within the run's time budget and otherwise stay
 * pending for the next run; at the end every risky finding of the day is on both channels exactly once.
 */

/** The risky identities of day 1: each must end in one incident and one accepted Teams message. */
const RISKY = sampleDay(1).riskyIds;
const N = RISKY.length;

let table: string;
let arm: ArmPeer;
let teams: TeamsPeer;
const log: Logger = { info: () => {}, warn: () => {}, error: () => {} };

beforeEach(async () => {
  table = uniqueTableName("peers");
  arm = await startArmPeer();
  teams = await startTeamsPeer({ path: WEBHOOK_PATH, hostileNames: [hostileSampleName()] });
});

afterEach(async () => {
  await Promise.all([arm.close(), teams.close()]);
});

/** Day 1 as the timer runs it; `runTimeBudgetMs` below the setting's 30 s minimum keeps waits short. */
async function run(runTimeBudgetMs = 20_000): Promise<RunSummary> {
  const config = loadConfig(
    {
      TEAMS_WEBHOOK_URL: `${teams.url}${WEBHOOK_PATH}`,
      ARM_ENDPOINT: arm.url,
      SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
      NOTIFY_CHANNELS: "teams,sentinel",
      HUNT_LOOKBACK_DAYS: "365",
      STATE_TABLE_NAME: table,
    },
    { replay: true },
  );
  return await runOnce(
    config,
    { replay: samplePath(1), state: { kind: "connection", connectionString: azuriteConnectionString() }, now: DAY_1 },
    log,
    { runTimeBudgetMs },
  );
}

const teamsThrottled = (seconds: number): PeerResponse => ({
  status: 429,
  headers: { "retry-after": String(seconds) },
  body: { error: { code: "TooManyRequests", message: "Rate limit is exceeded." } },
});

/** Every risky identity in exactly one incident and one accepted Teams message, nothing owed, no refusal. */
async function expectEachDeliveredOnce() {
  const described = [...arm.incidents.values()].map(
    (i) => /ServicePrincipalId: (\S+)/.exec(String(i.properties.description))?.[1],
  );
  expect(described.sort()).toEqual([...RISKY].sort());
  for (const id of RISKY) {
    const cards = teams.accepted.filter((m) => JSON.stringify(m).includes(id));
    expect(cards, id).toHaveLength(1);
  }
  expect((await identityRows(table)).filter((r) => r.Pending !== "")).toEqual([]);
  expect(arm.violations).toEqual([]);
  expect(teams.violations).toEqual([]);
}

/** Milliseconds between each request and the next, as the peer saw them arrive. */
const gaps = (arrivals: readonly number[]) => arrivals.slice(1).map((t, i) => t - (arrivals[i] as number));

describe("deliveries when the peers misbehave", () => {
  it("rides out a 429 storm on both channels, waiting each Retry-After, within one run", async () => {
    arm.fault = () => (arm.requests.length <= 3 ? throttled(1) : undefined);
    teams.fault = (_request, n) => (n <= 2 ? teamsThrottled(1) : undefined);

    const summary = await run();

    expect(summary).toMatchObject({ status: "done", delivered: { teams: N, sentinel: N }, pending: 0, failures: [] });
    // Three throttled PUTs of the first incident, then one for each incident created.
    expect(arm.calls("PUT")).toHaveLength(N + 3);
    expect(teams.requests).toHaveLength(3);
    for (const gap of [...gaps(arm.arrivals).slice(0, 3), ...gaps(teams.arrivals)]) {
      expect(gap).toBeGreaterThanOrEqual(950);
    }
    await expectEachDeliveredOnce();
  });

  it("leaves the incidents pending when the storm outlasts the run's budget, and the next run creates each once", async () => {
    // Every PUT is throttled for longer than the whole budget: none can wait that long, so none is retried.
    arm.fault = () => throttled(10);

    // Nothing waits for the budget here (every retry is refused at once), so a roomy one costs no time.
    const first = await run(8000);

    expect(first.status).toBe("pending");
    expect(first.delivered).toEqual({ teams: N, sentinel: 0 });
    expect(
      first.failures.filter((f) => f.includes("429") && f.includes("would pass the run's time budget")),
    ).toHaveLength(N);
    expect(arm.incidents.size).toBe(0);

    arm.fault = undefined;
    const second = await run();

    expect(second).toMatchObject({ status: "done", delivered: { teams: 0, sentinel: N }, pending: 0 });
    await expectEachDeliveredOnce();
  });

  it("retries 500s until the peers answer, creating each incident and posting the digest once", async () => {
    arm.fault = () => (arm.requests.length <= 2 ? serverError() : undefined);
    teams.fault = (_request, n) =>
      n <= 2 ? { status: 500, body: { error: { code: "InternalServerError" } } } : undefined;

    const summary = await run();

    expect(summary).toMatchObject({ status: "done", delivered: { teams: N, sentinel: N }, pending: 0, failures: [] });
    expect(arm.calls("PUT")).toHaveLength(N + 2);
    expect(teams.requests).toHaveLength(3);
    await expectEachDeliveredOnce();
  });

  it("leaves the digest pending when Teams never answers within the budget, and the next run posts it once", async () => {
    teams.fault = () => HANG;

    const first = await run(4000);

    expect(first.status).toBe("pending");
    expect(first.delivered).toEqual({ teams: 0, sentinel: N });
    // The post times out at the deadline, or (on a slow machine) the budget is spent before it starts.
    expect(first.failures).toHaveLength(1);
    expect(first.failures[0]).toMatch(
      /Teams message 1 of 1 to the Teams webhook \(TEAMS_WEBHOOK_URL\)|1 Teams message left pending/,
    );
    expect(first.failures[0]).not.toContain(WEBHOOK_PATH.slice(-20));

    teams.fault = undefined;
    const armBefore = arm.requests.length;
    const second = await run();

    expect(second).toMatchObject({ status: "done", delivered: { teams: N, sentinel: 0 }, pending: 0 });
    // Sentinel owed nothing more: not one request to ARM.
    expect(arm.requests.length).toBe(armBefore);
    await expectEachDeliveredOnce();
  });

  it("retries connection resets, before and after the peer acted, without a second incident", async () => {
    let resetAfterServing: string | undefined;
    arm.fault = (_request, incidentId, serve) => {
      const n = arm.requests.length;
      if (n <= 2) return RESET;
      if (n === 3) {
        // The workspace stores the incident and the answer is lost: the retried PUT updates the same one.
        serve();
        resetAfterServing = incidentId;
        return RESET;
      }
      return undefined;
    };
    teams.fault = (_request, n) => (n === 1 ? RESET : undefined);

    const summary = await run();

    expect(summary).toMatchObject({ status: "done", delivered: { teams: N, sentinel: N }, pending: 0, failures: [] });
    expect(arm.methodsFor(resetAfterServing ?? "?")).toEqual(["PUT", "PUT", "PUT", "PUT"]);
    expect(arm.incidents.size).toBe(N);
    expect(teams.requests).toHaveLength(2);
    await expectEachDeliveredOnce();
  });
});
