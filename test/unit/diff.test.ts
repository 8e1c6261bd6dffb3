import { describe, expect, it } from "vitest";
import type { ChannelName } from "../../src/config.js";
import type { Finding } from "../../src/hunt/finding.js";
import type { ChangeKind } from "../../src/state/diff.js";
import { DELETED_FROM_DIRECTORY, diff, GONE_FROM_RESULT } from "../../src/state/diff.js";
import type { IdentityRecord } from "../../src/state/records.js";
import {
  fromIdentityEntity,
  IDENTITY_PARTITION,
  restoreFinding,
  safeKey,
  storeFinding,
  toIdentityEntity,
} from "../../src/state/records.js";
import { finding as baseFinding } from "../helpers/findings.js";

const DAY_MS = 86_400_000;
const day1 = new Date("2026-05-01T06:00:00.000Z");
const day2 = new Date(day1.getTime() + DAY_MS);
const eightDaysBefore = (day: Date) => new Date(day.getTime() - 8 * DAY_MS).toISOString();
const BOTH: ChannelName[] = ["teams", "sentinel"];
const ID = "1d281b86-1fc2-4cc1-86ea-cb952783f4ba";
const OTHER = "7c0e4a52-93b1-4f0d-a6e2-5b8f1c3d9e70";

/** This file's identity: signed in 200 days before day 1, changed since, with no Azure activity. */
const base: Partial<Finding> = {
  servicePrincipalId: ID,
  daysSinceSignin: 200,
  lastSignin: "2025-10-13T01:09:44.000Z",
  lastChange: "2026-04-20T09:00:00.000Z",
  azureOpsCount: 0,
  lastAzureOp: null,
  azureResources: [],
  azureOperations: [],
};
const finding = (overrides: Partial<Finding> = {}): Finding => baseFinding({ ...base, ...overrides });

const risky = finding();
const escalatedFinding = finding({ riskSignal: "AzureActivityWithoutSignIn", azureOpsCount: 3 });
const quiet = finding({ riskSignal: "", recentChanges: 0, changeTypes: [] });
const deletedFinding = finding({ directory: { status: "deleted" } });
const disabledFinding = finding({
  directory: {
    status: "found",
    appId: "5b1f3c2a-0000-4000-8000-000000000001",
    displayName: "mi-payments-prod-weu",
    accountEnabled: false,
    kind: "user-assigned",
    resourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi",
  },
});

/** What the store would hold for `f` after a run on day 1. */
function recordOf(f: Finding, overrides: Partial<IdentityRecord> = {}): IdentityRecord {
  return {
    servicePrincipalId: f.servicePrincipalId,
    fingerprint: `${f.servicePrincipalId.toLowerCase()}|${f.riskSignal}`,
    riskSignal: f.riskSignal,
    status: "open",
    episode: 1,
    since: day1.toISOString(),
    resolvedAt: null,
    resolvedReason: null,
    finding: storeFinding(f, day1),
    pending: [],
    ...overrides,
  };
}

describe("diff", () => {
  const at = day2.toISOString();
  const cases: {
    case: string;
    previous: IdentityRecord[];
    current: Finding[];
    channels?: ChannelName[];
    /** The one change expected, or none. */
    kind?: ChangeKind;
    /** The record after the change; "before" means the stored record, untouched. */
    after?: IdentityRecord | "before";
    written: boolean;
  }[] = [
    {
      case: "records a first sighting with a risk signal as new, owed to every policy channel",
      previous: [],
      current: [risky],
      kind: "new",
      after: recordOf(risky, { since: at, finding: storeFinding(risky, day2), pending: BOTH }),
      written: true,
    },
    {
      case: "records a first sighting without a risk signal as tracked, owed to no channel",
      previous: [],
      current: [quiet],
      kind: "tracked",
      after: recordOf(quiet, { since: at, finding: storeFinding(quiet, day2), pending: [] }),
      written: true,
    },
    {
      case: "leaves the same fingerprint unchanged and writes nothing, even when volatile values moved",
      previous: [recordOf(risky, { pending: ["sentinel"] })],
      current: [{ ...risky, daysSinceSignin: 201, totalSignins: 913 }],
      kind: "unchanged",
      after: "before",
      written: false,
    },
    {
      case: "leaves a tracked identity without a signal unchanged",
      previous: [recordOf(quiet)],
      current: [quiet],
      kind: "unchanged",
      after: "before",
      written: false,
    },
    {
      case: "escalates an open risky finding whose signal changed, in a new episode owed again to every channel",
      previous: [recordOf(risky, { episode: 2 })],
      current: [escalatedFinding],
      kind: "escalated",
      after: recordOf(escalatedFinding, {
        episode: 3,
        since: at,
        finding: storeFinding(escalatedFinding, day2),
        pending: BOTH,
      }),
      written: true,
    },
    {
      case: "records a tracked identity that turned risky as new, in a new episode",
      previous: [recordOf(quiet)],
      current: [risky],
      kind: "new",
      after: recordOf(risky, { episode: 2, since: at, finding: storeFinding(risky, day2), pending: BOTH }),
      written: true,
    },
    {
      case: "tracks a risky identity that lost its signal, keeping the delivery still owed and its stored finding",
      previous: [recordOf(risky, { pending: ["sentinel"] })],
      current: [quiet],
      kind: "tracked",
      after: recordOf(quiet, { since: at, finding: storeFinding(risky, day1), pending: ["sentinel"] }),
      written: true,
    },
    {
      case: "tracks a risky identity that lost its signal with nothing owed, storing the new finding",
      previous: [recordOf(risky)],
      current: [quiet],
      kind: "tracked",
      after: recordOf(quiet, { since: at, finding: storeFinding(quiet, day2), pending: [] }),
      written: true,
    },
    {
      case: "resolves an open identity absent from the result, keeping what it still owes",
      previous: [recordOf(risky, { pending: ["teams"] })],
      current: [],
      kind: "resolved",
      after: recordOf(risky, {
        status: "resolved",
        resolvedAt: at,
        resolvedReason: GONE_FROM_RESULT,
        pending: ["teams"],
      }),
      written: true,
    },
    {
      case: "resolves an open identity deleted from the directory, withdrawing what it still owed",
      previous: [recordOf(risky, { pending: ["teams"] })],
      current: [deletedFinding],
      kind: "resolved",
      after: recordOf(risky, {
        status: "resolved",
        resolvedAt: at,
        resolvedReason: DELETED_FROM_DIRECTORY,
        finding: storeFinding(deletedFinding, day2),
        pending: [],
      }),
      written: true,
    },
    {
      case: "records a risky identity first seen already deleted as resolved, owed to no channel",
      previous: [],
      current: [deletedFinding],
      kind: "resolved",
      after: recordOf(deletedFinding, {
        since: at,
        status: "resolved",
        resolvedAt: at,
        resolvedReason: DELETED_FROM_DIRECTORY,
        finding: storeFinding(deletedFinding, day2),
        pending: [],
      }),
      written: true,
    },
    {
      case: "writes nothing for a deleted identity already resolved",
      previous: [
        recordOf(risky, { status: "resolved", resolvedAt: day1.toISOString(), resolvedReason: DELETED_FROM_DIRECTORY }),
      ],
      current: [deletedFinding],
      kind: "unchanged",
      after: "before",
      written: false,
    },
    {
      case: "delivers a disabled identity's risky finding like any other",
      previous: [],
      current: [disabledFinding],
      kind: "new",
      after: recordOf(disabledFinding, { since: at, finding: storeFinding(disabledFinding, day2), pending: BOTH }),
      written: true,
    },
    {
      case: "changes nothing at all for a resolved identity absent again",
      previous: [recordOf(risky, { status: "resolved", resolvedAt: day1.toISOString() })],
      current: [],
      written: false,
    },
    {
      case: "reopens an identity resolved over a week ago, back with a risk signal, in the next episode",
      previous: [recordOf(risky, { status: "resolved", episode: 1, resolvedAt: eightDaysBefore(day2) })],
      current: [risky],
      kind: "reopened",
      after: recordOf(risky, { episode: 2, since: at, finding: storeFinding(risky, day2), pending: BOTH }),
      written: true,
    },
    {
      case: "reopens an identity back the day after it was resolved as deleted: Graph's word, not a gap in the logs",
      previous: [
        recordOf(risky, {
          status: "resolved",
          episode: 1,
          resolvedAt: day1.toISOString(),
          resolvedReason: DELETED_FROM_DIRECTORY,
        }),
      ],
      current: [risky],
      kind: "reopened",
      after: recordOf(risky, { episode: 2, since: at, finding: storeFinding(risky, day2), pending: BOTH }),
      written: true,
    },
    {
      case: "tracks an identity back with the same signal a day after it was resolved: a gap in the data, not news",
      previous: [recordOf(risky, { status: "resolved", episode: 1, resolvedAt: day1.toISOString() })],
      current: [risky],
      kind: "tracked",
      after: recordOf(risky, { episode: 1, since: at, finding: storeFinding(risky, day2), pending: [] }),
      written: true,
    },
    {
      case: "reopens an identity back a day after it was resolved when its signal is another one",
      previous: [recordOf(risky, { status: "resolved", episode: 1, resolvedAt: day1.toISOString() })],
      current: [escalatedFinding],
      kind: "reopened",
      after: recordOf(escalatedFinding, {
        episode: 2,
        since: at,
        finding: storeFinding(escalatedFinding, day2),
        pending: BOTH,
      }),
      written: true,
    },
    {
      case: "tracks a resolved identity back without a signal, in the same episode",
      previous: [recordOf(quiet, { status: "resolved", episode: 3, resolvedAt: day1.toISOString() })],
      current: [quiet],
      kind: "tracked",
      after: recordOf(quiet, { episode: 3, since: at, finding: storeFinding(quiet, day2) }),
      written: true,
    },
    {
      case: "treats ServicePrincipalIds differing only in case as the same, unchanged identity",
      previous: [recordOf(finding({ servicePrincipalId: ID.toUpperCase() }))],
      current: [risky],
      kind: "unchanged",
      after: "before",
      written: false,
    },
    {
      case: "treats ServicePrincipalIds differing only in case as the same identity when its signal changes",
      previous: [recordOf(risky)],
      current: [{ ...escalatedFinding, servicePrincipalId: ID.toUpperCase() }],
      kind: "escalated",
      after: recordOf(
        { ...escalatedFinding, servicePrincipalId: ID.toUpperCase() },
        {
          episode: 2,
          since: at,
          finding: storeFinding({ ...escalatedFinding, servicePrincipalId: ID.toUpperCase() }, day2),
          pending: BOTH,
        },
      ),
      written: true,
    },
    {
      case: "owes a new risky finding to no channel under an empty channel policy",
      previous: [],
      current: [risky],
      channels: [],
      kind: "new",
      after: recordOf(risky, { since: at, finding: storeFinding(risky, day2), pending: [] }),
      written: true,
    },
    {
      case: "owes a new risky finding only to the channels the policy names",
      previous: [],
      current: [risky],
      channels: ["sentinel"],
      kind: "new",
      after: recordOf(risky, { since: at, finding: storeFinding(risky, day2), pending: ["sentinel"] }),
      written: true,
    },
  ];

  it.each(cases)("$case", ({ previous, current, channels = BOTH, kind, after, written }) => {
    const plan = diff(previous, current, day2, { channels });
    if (kind === undefined) {
      expect(plan).toEqual({ changes: [], writes: [] });
      return;
    }
    expect(plan.changes).toHaveLength(1);
    const [change] = plan.changes;
    const expectedAfter = after === "before" ? previous[0] : after;
    expect(change).toEqual({
      kind,
      servicePrincipalId: current[0]?.servicePrincipalId ?? previous[0]?.servicePrincipalId,
      before: previous[0],
      after: expectedAfter,
    });
    expect(plan.writes).toEqual(written ? [expectedAfter] : []);
  });

  it("plans several identities at once, writing every change but the unchanged ones", () => {
    const third = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const previous = [
      recordOf(risky),
      recordOf(finding({ servicePrincipalId: OTHER })),
      recordOf(finding({ servicePrincipalId: third }), { status: "resolved", resolvedAt: day1.toISOString() }),
    ];
    const current = [risky, finding({ servicePrincipalId: "ffffffff-0000-4000-8000-000000000000" })];
    const plan = diff(previous, current, day2, { channels: BOTH });
    expect(plan.changes.map((c) => [c.kind, c.servicePrincipalId])).toEqual([
      ["unchanged", ID],
      ["new", "ffffffff-0000-4000-8000-000000000000"],
      ["resolved", OTHER],
    ]);
    expect(plan.writes.map((r) => [r.servicePrincipalId, r.status])).toEqual([
      ["ffffffff-0000-4000-8000-000000000000", "open"],
      [OTHER, "resolved"],
    ]);
  });

  it("keeps an absent identity open, unwritten, when the policy says what found it was not asked", () => {
    const onlyInDirectory = finding({
      discoveredBy: "Directory",
      lastSignin: null,
      stalenessCategory: "NeverSignedIn",
    });
    const fromLogs = finding({ servicePrincipalId: OTHER });
    const previous = [recordOf(onlyInDirectory), recordOf(fromLogs)];

    const plan = diff(previous, [], day2, {
      channels: BOTH,
      keepIfAbsent: (record) => record.finding.discoveredBy === "Directory",
    });

    expect(plan.changes.map((c) => [c.servicePrincipalId, c.kind])).toEqual([
      [ID, "unchanged"],
      [OTHER, "resolved"],
    ]);
    expect(plan.writes.map((r) => r.servicePrincipalId)).toEqual([OTHER]);
  });

  it("does not change the records it was given", () => {
    const previous = [recordOf(risky, { pending: ["teams"] })];
    const snapshot = structuredClone(previous);
    diff(previous, [escalatedFinding], day2, { channels: BOTH });
    diff(previous, [], day2, { channels: BOTH });
    expect(previous).toEqual(snapshot);
  });
});

describe("storeFinding and restoreFinding", () => {
  const cases: { case: string; finding: Finding; run: Date }[] = [
    { case: "a finding with a last sign-in earlier in the day than the run", finding: risky, run: day1 },
    {
      case: "a finding with a last sign-in later in the day than the run",
      // The hunt counts calendar days: from 2025-10-13T23:30 to 2026-05-01T06:00 is 200 days.
      finding: finding({ lastSignin: "2025-10-13T23:30:00.000Z", daysSinceSignin: 200 }),
      run: day1,
    },
    {
      case: "a never-signed-in finding",
      finding: finding({ lastSignin: null, daysSinceSignin: 42, stalenessCategory: "NeverSignedIn" }),
      run: day1,
    },
    {
      case: "a never-signed-in finding created today",
      finding: finding({ lastSignin: null, daysSinceSignin: 0, stalenessCategory: "NeverSignedIn" }),
      run: new Date("2026-05-01T23:59:59.000Z"),
    },
  ];

  it.each(cases)("gives the same day count back on the day it was stored for $case", ({ finding: f, run }) => {
    expect(restoreFinding(storeFinding(f, run), run)).toEqual(f);
  });

  it.each(cases)("gives daysSinceSignin + 1 a day later for $case", ({ finding: f, run }) => {
    const later = new Date(run.getTime() + DAY_MS);
    expect(restoreFinding(storeFinding(f, run), later)).toEqual({ ...f, daysSinceSignin: f.daysSinceSignin + 1 });
  });

  it.each([
    { case: "a finding with a last sign-in", f: risky, anchor: risky.lastSignin },
    {
      case: "a never-signed-in finding",
      f: finding({ lastSignin: null, daysSinceSignin: 42 }),
      anchor: new Date(day1.getTime() - 42 * DAY_MS).toISOString(),
    },
  ])("stores $case without its day count, anchored where the count starts", ({ f, anchor }) => {
    const stored = storeFinding(f, day1);
    expect(stored).not.toHaveProperty("daysSinceSignin");
    expect(stored.signinAnchor).toBe(anchor);
  });

  it("never restores a negative day count when the clock is behind the anchor", () => {
    const stored = storeFinding(risky, day1);
    expect(restoreFinding(stored, new Date("2025-01-01T00:00:00.000Z")).daysSinceSignin).toBe(0);
  });
});

describe("safeKey", () => {
  it.each([
    { case: "a GUID, lowercased", value: ID.toUpperCase(), key: ID },
    { case: "a lower-case GUID", value: ID, key: ID },
    { case: "a slash", value: "a/b", key: "a%2fb" },
    { case: "a backslash", value: "a\\b", key: "a%5cb" },
    { case: "a hash", value: "a#b", key: "a%23b" },
    { case: "a question mark", value: "a?b", key: "a%3fb" },
    { case: "a percent sign, so the escape is reversible", value: "a%2fb", key: "a%252fb" },
    { case: "a NUL", value: "a\u0000b", key: "a%00b" },
    { case: "a tab and a new line", value: "a\tb\n", key: "a%09b%0a" },
    { case: "the unit separator", value: "\u001f", key: "%1f" },
    { case: "DEL", value: "\u007f", key: "%7f" },
    { case: "a C1 control character", value: "\u009f", key: "%9f" },
    { case: "all of them at once", value: "/\\#?%", key: "%2f%5c%23%3f%25" },
    { case: "other punctuation, untouched", value: "a-b_c.d:e", key: "a-b_c.d:e" },
  ])("escapes $case", ({ value, key }) => {
    expect(safeKey(value)).toBe(key);
  });

  it("keeps keys apart that differ by an escaped character", () => {
    expect(safeKey("a/b")).not.toBe(safeKey("a%2fb"));
  });
});

describe("identity entities", () => {
  const cases: { case: string; record: IdentityRecord }[] = [
    { case: "an open risky record with deliveries owed", record: recordOf(risky, { pending: ["teams", "sentinel"] }) },
    { case: "a tracked record owing nothing", record: recordOf(quiet) },
    {
      case: "a resolved record in a later episode",
      record: recordOf(risky, {
        status: "resolved",
        episode: 3,
        resolvedAt: day2.toISOString(),
        pending: ["sentinel"],
      }),
    },
    {
      case: "a never-signed-in record with extra evidence",
      record: recordOf(finding({ lastSignin: null, extra: { Tags: { env: "prod" }, Scopes: ["/subscriptions/a"] } })),
    },
    {
      case: "a record whose id needs escaping in the row key",
      record: recordOf(finding({ servicePrincipalId: "odd/id#1" })),
    },
  ];

  it.each(cases)("round-trips $case through its table entity", ({ record }) => {
    const entity = toIdentityEntity(record);
    expect(entity.partitionKey).toBe(IDENTITY_PARTITION);
    expect(entity.rowKey).toBe(safeKey(record.servicePrincipalId));
    expect(fromIdentityEntity({ ...entity })).toEqual(record);
  });

  it("drops a pending channel name it does not know when reading an entity", () => {
    const entity = { ...toIdentityEntity(recordOf(risky, { pending: ["teams"] })), Pending: "teams,email," };
    expect(fromIdentityEntity(entity).pending).toEqual(["teams"]);
  });

  it.each([
    { case: "an unknown Status", change: { Status: "closed" }, says: 'Status "closed" is unknown' },
    { case: "a missing Episode", change: { Episode: undefined }, says: "property Episode is missing" },
    { case: "a Finding that is not JSON", change: { Finding: "{" }, says: "property Finding is not JSON" },
    { case: "a missing Fingerprint", change: { Fingerprint: undefined }, says: "property Fingerprint is missing" },
  ])("rejects an entity with $case, naming its row", ({ change, says }) => {
    const entity = { ...toIdentityEntity(recordOf(risky)), ...change };
    expect(() => fromIdentityEntity(entity)).toThrow(`Identity row (PartitionKey identity, RowKey ${ID}): ${says}`);
    expect(() => fromIdentityEntity(entity)).toThrow(/; fix or delete that row$/);
  });

  it("replaces extra evidence too large to store, keeping the rest of the finding", () => {
    const record = recordOf(finding({ extra: { Blob: "x".repeat(40_000) } }));
    const restored = fromIdentityEntity({ ...toIdentityEntity(record) });
    expect(restored.finding).toEqual({ ...record.finding, extra: { _omitted: "extra evidence too large to store" } });
  });
});
