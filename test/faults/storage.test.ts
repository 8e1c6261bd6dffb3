import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunningAzurite } from "../../src/state/azurite.js";
import { startAzurite } from "../../src/state/azurite.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { startArmPeer } from "../helpers/armPeer.js";
import type { Exit } from "../helpers/cli.js";
import { buildCli, spawnCli } from "../helpers/cli.js";
import { DAYS, expireLease, WEBHOOK_PATH, WORKSPACE } from "../helpers/crashTrial.js";
import { sampleDay } from "../helpers/sampleDays.js";
import type { ProxiedRequest } from "../helpers/tableProxy.js";
import { startTableProxy } from "../helpers/tableProxy.js";
import { hostileSampleName } from "../helpers/tables.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer } from "../helpers/teamsPeer.js";

/**
 * Storage disappears mid-run: the CLI's state is an Azurite of the test's own, with its data on disk, behind a
 * proxy. At a chosen Table request Azurite is stopped (cleanly, so what it had stored is on disk) and the
 * proxy stops listening: to the CLI, storage is gone. The run must fail saying so, with exit code 1. Then a
 * new Azurite on the same data comes up and the next run must end exactly as a run that never failed.
 */

const TABLE = "StaleState";
const DAY_1 = DAYS[0];
const { rows: ROWS, riskyIds } = sampleDay(1);
const RISKY = riskyIds.length;

beforeAll(buildCli, 120_000);

/** What one scenario runs against: its own stand-ins, working directory and Azurite data directory. */
interface Peers {
  arm: ArmPeer;
  teams: TeamsPeer;
  cwd: string;
  dir: string;
}

async function withPeers<T>(body: (peers: Peers) => Promise<T>): Promise<T> {
  const peers: Peers = {
    arm: await startArmPeer(),
    teams: await startTeamsPeer({ path: WEBHOOK_PATH, hostileNames: [hostileSampleName()] }),
    cwd: mkdtempSync(join(tmpdir(), "stale-mi-storage-cwd-")),
    dir: mkdtempSync(join(tmpdir(), "stale-mi-storage-")),
  };
  try {
    return await body(peers);
  } finally {
    await Promise.all([peers.arm.close(), peers.teams.close()]);
    rmSync(peers.cwd, { recursive: true, force: true });
    rmSync(peers.dir, { recursive: true, force: true });
  }
}

function runDay1(connectionString: string, { arm, teams, cwd }: Peers): Promise<Exit> {
  const settings = {
    NOTIFY_CHANNELS: "teams,sentinel",
    TEAMS_WEBHOOK_URL: `${teams.url}${WEBHOOK_PATH}`,
    ARM_ENDPOINT: arm.url,
    SENTINEL_WORKSPACE_RESOURCE_ID: WORKSPACE,
    STATE_TABLE_NAME: TABLE,
    HUNT_LOOKBACK_DAYS: "365",
    RUN_TIME_BUDGET_SECONDS: "30",
    HUNT_SERVER_TIMEOUT_SECONDS: "20",
  };
  const args = ["run", "--replay", DAY_1.replay, "--now", DAY_1.now, "--state-connection", connectionString, "--json"];
  return spawnCli(args, settings, cwd).exit;
}

async function identityRows(connectionString: string) {
  const client = TableClient.fromConnectionString(connectionString, TABLE, { allowInsecureConnection: true });
  const rows: Record<string, unknown>[] = [];
  for await (const e of client.listEntities({ queryOptions: { filter: "PartitionKey eq 'identity'" } })) {
    const { etag: _etag, timestamp: _timestamp, ...row } = e as Record<string, unknown>;
    rows.push(row);
  }
  return rows;
}

interface Scenario {
  when: string;
  /** Whether storage goes at this request (counted from 1), given how many transactions came so far. */
  at: (request: ProxiedRequest, batches: number) => boolean;
  /** What the failed run's error says it could not do. */
  could: string;
  /** Incidents the failed run created before storage went. */
  incidents: number;
  /** At most this many Teams digests were posted before storage went (the one whose acknowledgement failed). */
  messages: number;
}

const SCENARIOS: Scenario[] = [
  { when: "while it reads the lease", at: (r) => r.n === 1, could: "read the lease", incidents: 0, messages: 0 },
  {
    when: "before the plan is stored",
    at: (r, batches) => r.url.includes("$batch") && batches === 1,
    could: `save ${ROWS} identity rows`,
    incidents: 0,
    messages: 0,
  },
  {
    when: "when the first deliveries are acknowledged",
    at: (r, batches) => r.url.includes("$batch") && batches === 2,
    could: `save ${RISKY} identity rows`,
    incidents: RISKY,
    messages: 1,
  },
];

describe("Table Storage stopped in the middle of a run", () => {
  let reference: Record<string, unknown>[];

  beforeAll(async () => {
    // The rows a run that never failed leaves, on an Azurite of its own.
    reference = await withPeers(async (peers) => {
      const clean = await startAzurite(undefined);
      try {
        const exit = await runDay1(clean.connectionString, peers);
        expect(exit.code, exit.stderr).toBe(0);
        return await identityRows(clean.connectionString);
      } finally {
        await clean.stop();
      }
    });
    expect(reference).toHaveLength(ROWS);
  }, 60_000);

  // Concurrent: each waits mostly on the storage client's retries against a storage that is gone.
  it.concurrent.each(SCENARIOS)(
    "fails with exit 1 naming the table $when, and the next run ends as if it had not happened",
    async (scenario) => {
      await withPeers(async (peers) => {
        const { arm, teams } = peers;
        const first = await startAzurite(peers.dir);
        const proxy = await startTableProxy(first.connectionString);
        let second: RunningAzurite | undefined;
        try {
          let batches = 0;
          proxy.fault = (request) => {
            if (request.url.includes("$batch")) batches++;
            if (!scenario.at(request, batches)) return undefined;
            return {
              moment: "before",
              act: async () => {
                await first.stop();
                await proxy.close();
              },
            };
          };

          const failed = await runDay1(proxy.connectionString, peers);

          expect(failed.code, failed.stderr).toBe(1);
          const summary = JSON.parse(failed.stdout) as { status: string; error: string };
          expect(summary.status).toBe("failed");
          const endpoint = /TableEndpoint=([^;]+)/.exec(proxy.connectionString)?.[1]?.replace(/\/$/, "");
          expect(summary.error).toContain(
            `Table Storage: could not ${scenario.could} in table ${TABLE} at ${endpoint}`,
          );
          expect(summary.error).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
          expect(arm.incidents.size).toBe(scenario.incidents);
          expect(teams.accepted.length).toBeLessThanOrEqual(scenario.messages);
          const postedBefore = teams.accepted.length;

          // Storage is back, on the same data, at another address; a lease the failed run could not release
          // has expired by the time the next run comes (the timer's next day): age it rather than wait 90 s.
          second = await startAzurite(peers.dir);
          await expireLease(TABLE, second.connectionString);
          const next = await runDay1(second.connectionString, peers);

          expect(next.code, next.stderr).toBe(0);
          expect(JSON.parse(next.stdout)).toMatchObject({ status: "done", pending: 0 });
          expect(await identityRows(second.connectionString)).toEqual(reference);
          expect(arm.incidents.size).toBe(RISKY);
          // No incident was created twice. Teams got the day's digest once, and once more only when it had been
          // posted just before its acknowledgement failed, as after a crash at that moment.
          for (const id of arm.incidents.keys()) {
            expect(
              arm.methodsFor(id).filter((m) => m === "PUT"),
              id,
            ).toHaveLength(1);
          }
          expect(teams.accepted).toHaveLength(1 + postedBefore);
          for (const id of riskyIds)
            expect(
              teams.accepted.some((m) => JSON.stringify(m).includes(id)),
              id,
            ).toBe(true);
          expect(arm.violations).toEqual([]);
          expect(teams.violations).toEqual([]);
        } finally {
          await proxy.close();
          await first.stop();
          await second?.stop();
        }
      });
    },
    90_000,
  );
});
