import { randomUUID } from "node:crypto";
import { TableServiceClient } from "@azure/data-tables";
import { describe, expect, it } from "vitest";
import type { IdentityRecord, RunRecord } from "../../src/state/records.js";
import { RUN_PARTITION, runRowKey } from "../../src/state/records.js";
import { LeaseHeldError } from "../../src/state/store.js";
import { azuriteConnectionString, freshStore } from "../helpers/state.js";
import { entitiesOf, tableClient } from "../helpers/tables.js";

const T0 = new Date("2026-12-01T06:00:00.000Z");
const MINUTE = 60_000;

function identity(id: string, overrides: Partial<IdentityRecord> = {}): IdentityRecord {
  return {
    servicePrincipalId: id,
    fingerprint: `${id.toLowerCase()}|AzureActivityWithoutSignIn`,
    riskSignal: "AzureActivityWithoutSignIn",
    status: "open",
    episode: 1,
    since: "2026-12-01T06:00:00.000Z",
    resolvedAt: null,
    resolvedReason: null,
    finding: {
      servicePrincipalId: id,
      servicePrincipalName: `mi-${id.slice(0, 8)}`,
      stalenessCategory: "Abandoned (180d+)",
      lastSignin: "2026-03-02T01:09:44.778Z",
      totalSignins: 912,
      uniqueResources: 2,
      lastResource: "Azure Resource Manager",
      recentChanges: 0,
      changeTypes: [],
      lastChange: null,
      changedBy: [],
      azureOpsCount: 2,
      lastAzureOp: "2026-11-18T03:33:12.440Z",
      azureResources: ["vm-build-agent-03", "rg-build-weu"],
      azureOperations: ["Microsoft.Compute/virtualMachines/runCommand/action"],
      riskSignal: "AzureActivityWithoutSignIn",
      ipAddresses: ["13.69.68.14"],
      discoveredBy: "SignInLogs",
      extra: {},
      signinAnchor: "2026-03-02T01:09:44.778Z",
    },
    pending: ["sentinel", "teams"],
    ...overrides,
  };
}

function runRecord(runId: string, startedAt: Date): RunRecord {
  return {
    runId,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date(startedAt.getTime() + 5_000).toISOString(),
    status: "done",
    findings: 9,
    risky: 5,
    new: 5,
    escalated: 0,
    reopened: 0,
    resolved: 0,
    delivered: { teams: 5, sentinel: 5 },
    pending: 0,
  };
}

const byId = (records: readonly IdentityRecord[]) =>
  [...records].sort((a, b) => a.servicePrincipalId.localeCompare(b.servicePrincipalId));

async function tableExists(table: string): Promise<boolean> {
  const service = TableServiceClient.fromConnectionString(azuriteConnectionString(), { allowInsecureConnection: true });
  for await (const found of service.listTables({ queryOptions: { filter: `TableName eq '${table}'` } })) {
    if (found.name === table) return true;
  }
  return false;
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe("TableStateStore on Azurite", () => {
  it("creates its table on the first lease, and a later lease does not try to create it again", async () => {
    const { store, counter, table } = freshStore();
    expect(await tableExists(table)).toBe(false);

    const lease = await store.acquireLease("run-1", MINUTE, T0);

    expect(await tableExists(table)).toBe(true);
    expect(lease.runId).toBe("run-1");
    expect(lease.etag).not.toBe("");
    // One read of the missing lease, then the table and the lease row.
    expect(counter).toEqual({ reads: 1, writes: 2 });
    const leaseRow = await tableClient(table).getEntity(RUN_PARTITION, "lease");
    expect(leaseRow.Holder).toBe("run-1");
    expect(leaseRow.ExpiresAt).toBe(new Date(T0.getTime() + MINUTE).toISOString());

    await store.finishRun(lease, runRecord("run-1", T0));
    const before = { ...counter };
    await store.acquireLease("run-2", MINUTE, new Date(T0.getTime() + 10_000));
    expect({ reads: counter.reads - before.reads, writes: counter.writes - before.writes }).toEqual({
      reads: 1,
      writes: 1,
    });
  });

  it("reads back identities exactly as they were saved, open and resolved, including ids with characters a key may not hold", async () => {
    const { store } = freshStore();
    await store.acquireLease("run-1", MINUTE, T0);
    const records = [
      identity(randomUUID()),
      identity(randomUUID(), {
        status: "resolved",
        resolvedAt: "2026-12-02T06:00:00.000Z",
        episode: 3,
        pending: [],
        riskSignal: "",
        fingerprint: "x|",
      }),
      identity("Odd/Id#With?Reserved%Chars\\", { pending: ["teams"] }),
    ];
    const [first] = records;
    if (first) first.finding.extra = { Owner: "team-payments", Tags: { env: "prod" }, Score: 7 };

    await store.saveIdentities(records);

    expect(byId(await store.loadIdentities())).toEqual(byId(records));
  });

  it("saves 1,234 identities in 13 transactions of at most 100 rows and reads them all back across two pages", async () => {
    const { store, counter } = freshStore();
    await store.acquireLease("run-1", MINUTE, T0);
    const records = Array.from({ length: 1_234 }, () => identity(randomUUID()));

    let before = { ...counter };
    await store.saveIdentities(records);
    expect(counter.writes - before.writes).toBe(13);
    expect(counter.reads - before.reads).toBe(0);

    before = { ...counter };
    const loaded = await store.loadIdentities();
    expect(counter.reads - before.reads).toBe(2);
    expect(counter.writes - before.writes).toBe(0);
    expect(loaded).toHaveLength(1_234);
    expect(byId(loaded)).toEqual(byId(records));
  });

  it("refuses a second lease while the first is held, with a LeaseHeldError naming the holder and the table", async () => {
    const { store, table } = freshStore();
    await store.acquireLease("run-holding", 10 * MINUTE, T0);

    const error = await rejectionOf(store.acquireLease("run-late", 10 * MINUTE, new Date(T0.getTime() + MINUTE)));

    expect(error).toBeInstanceOf(LeaseHeldError);
    expect(error.message).toContain("run-holding");
    expect(error.message).toContain(`table ${table}`);
    expect(error.message).toContain(new Date(T0.getTime() + 10 * MINUTE).toISOString());
    expect((await tableClient(table).getEntity(RUN_PARTITION, "lease")).Holder).toBe("run-holding");
  });

  it("lets another run take the lease once finishRun has released it, and keeps the run's record", async () => {
    const { store, table } = freshStore();
    const lease = await store.acquireLease("run-1", 10 * MINUTE, T0);
    const record = { ...runRecord("run-1", T0), status: "pending" as const, pending: 2, error: "two deliveries owed" };

    await store.finishRun(lease, record);
    const next = await store.acquireLease("run-2", 10 * MINUTE, new Date(T0.getTime() + MINUTE));

    expect(next.runId).toBe("run-2");
    expect((await tableClient(table).getEntity(RUN_PARTITION, "lease")).Holder).toBe("run-2");
    const stored = await tableClient(table).getEntity(RUN_PARTITION, runRowKey(T0, "run-1"));
    expect(stored).toMatchObject({
      RunId: "run-1",
      StartedAt: record.startedAt,
      FinishedAt: record.finishedAt,
      Status: "pending",
      Findings: 9,
      Risky: 5,
      New: 5,
      Resolved: 0,
      DeliveredTeams: 5,
      DeliveredSentinel: 5,
      Pending: 2,
      Error: "two deliveries owed",
    });
  });

  it("lets a run take over a lease whose holder let it expire", async () => {
    const { store, table } = freshStore();
    await store.acquireLease("run-dead", MINUTE, T0);

    const lease = await store.acquireLease("run-next", MINUTE, new Date(T0.getTime() + MINUTE + 1));

    expect(lease.runId).toBe("run-next");
    expect((await tableClient(table).getEntity(RUN_PARTITION, "lease")).Holder).toBe("run-next");
  });

  it("fails finishRun with a stale lease etag and records nothing, leaving the new holder's lease in place", async () => {
    const { store, table } = freshStore();
    const stale = await store.acquireLease("run-slow", MINUTE, T0);
    await store.acquireLease("run-next", MINUTE, new Date(T0.getTime() + 2 * MINUTE));

    const error = await rejectionOf(store.finishRun(stale, runRecord("run-slow", T0)));

    expect(error.message).toContain("could not release the lease and record the run");
    expect(error.message).toContain(`table ${table}`);
    const rows = await entitiesOf(table);
    expect(rows.map((r) => r.rowKey)).toEqual(["lease"]);
    expect(rows[0]?.Holder).toBe("run-next");
  });
});
