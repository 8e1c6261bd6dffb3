/**
 * Seeded synthetic hunt results for the benchmark: the same seed and size give byte-identical replay files, so
 * request counts can be compared across machines and commits.
 */
import { HUNT_COLUMNS } from "../../src/hunt/finding.js";

/** A small, fast, seedable PRNG (mulberry32): plenty for test data, not for anything secret. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes several integers into one seed (murmur3's finaliser), so each identity has a stream of its own. */
function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const DAY_MS = 86_400_000;
/** The first run's clock; day d runs d - 1 days later. */
export const FIRST_DAY = new Date("2026-12-01T06:00:00Z");
/** Share of identities with a risk signal; the rest are stale without one (tracked, never delivered). */
const RISKY_SHARE = 0.1;
/** Share of a steady day's identities that change: a third new, a third escalated, a third resolved. */
export const CHURN = 0.01;

const SIGNED_IN_SIGNALS = ["CredOrRoleChangeOnStaleIdentity", "AzureActivityWithoutSignIn"] as const;
const NEVER_SIGNED_IN_SIGNALS = ["CreatedAndModifiedButNeverUsed", "AzureActivityWithoutSignIn"] as const;
const APPS = ["payments", "orders", "billing", "search", "etl", "backup", "reports", "gateway", "inventory", "auth"];
const KINDS = ["func", "app", "aks", "vm", "adf", "logic", "mi", "id"];
const ENVS = ["prod", "test", "dev", "qa", "uat"];
const RESOURCES = ["Azure Key Vault", "Microsoft Graph", "Azure Storage", "Azure SQL Database", "Azure Service Bus"];
const CHANGES = [
  "Add service principal credentials",
  "Update application – Certificates and secrets management",
  "Add app role assignment to service principal",
  "Azure RBAC role assignment",
];
const OPERATIONS = [
  "Microsoft.KeyVault/vaults/secrets/read",
  "Microsoft.Storage/storageAccounts/listKeys/action",
  "Microsoft.Compute/virtualMachines/write",
  "Microsoft.Authorization/roleAssignments/write",
  "Microsoft.Web/sites/config/list/action",
];
const PEOPLE = ["alex", "sam", "kim", "jo", "lee", "ana", "ravi", "mei"];

/** What stays the same about an identity from day to day; its risk signal is chosen per day. */
export interface SyntheticIdentity {
  index: number;
  id: string;
  name: string;
  neverSignedIn: boolean;
  /** Days since its last sign-in (or creation) on the first day. */
  days: number;
  /** The signal it first shows, or "" when it is stale without one. */
  signal: string;
}

export function identity(seed: number, index: number): SyntheticIdentity {
  const random = mulberry32(mix(seed, index));
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join("");
  const id = `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(random() * 4)]}${hex(3)}-${hex(12)}`;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const name = `${pick(KINDS)}-${pick(APPS)}-${pick(ENVS)}-${String(index).padStart(6, "0")}`;
  const neverSignedIn = random() < 0.1;
  const days = neverSignedIn ? 1 + Math.floor(random() * 300) : 90 + Math.floor(random() * 300);
  const risky = random() < RISKY_SHARE;
  const signal = risky ? pick(neverSignedIn ? NEVER_SIGNED_IN_SIGNALS : SIGNED_IN_SIGNALS) : "";
  return { index, id, name, neverSignedIn, days, signal };
}

/** The other signal an escalated identity moves to. */
export function escalatedSignal(who: SyntheticIdentity): string {
  const signals: readonly string[] = who.neverSignedIn ? NEVER_SIGNED_IN_SIGNALS : SIGNED_IN_SIGNALS;
  return signals.find((s) => s !== who.signal) ?? who.signal;
}

/** One hunt row in HUNT_COLUMNS order, with evidence that fits its signal and stays the same for that signal. */
export function huntRow(seed: number, who: SyntheticIdentity, signal: string, dayOffset: number): unknown[] {
  const random = mulberry32(mix(seed, who.index, ...Array.from(signal, (c) => c.charCodeAt(0))));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const some = <T>(list: readonly T[], max: number): T[] => {
    const chosen = new Set<T>();
    const count = 1 + Math.floor(random() * max);
    for (let i = 0; i < count; i++) chosen.add(pick(list));
    return [...chosen];
  };
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const first = FIRST_DAY.getTime();
  const anchor = first - who.days * DAY_MS - Math.floor(random() * DAY_MS);
  const days = who.days + dayOffset;
  const changes = signal === "CredOrRoleChangeOnStaleIdentity" || signal === "CreatedAndModifiedButNeverUsed";
  const azure = signal === "AzureActivityWithoutSignIn";
  const recent = () => iso(first - Math.floor(random() * 60 * DAY_MS));
  const subscription = `${Math.floor(random() * 0xffffffff).toString(16)}-0000-4000-8000-000000000000`;
  const values: Record<string, unknown> = {
    ServicePrincipalId: who.id,
    ServicePrincipalName: who.name,
    StalenessCategory: who.neverSignedIn ? "NeverSignedIn" : days >= 180 ? "Abandoned (180d+)" : "Stale (90-179d)",
    DaysSinceSignin: days,
    LastSignin: who.neverSignedIn ? null : iso(anchor),
    TotalSignins: who.neverSignedIn ? 0 : 1 + Math.floor(random() * 5000),
    UniqueResources: who.neverSignedIn ? 0 : 1 + Math.floor(random() * 4),
    LastResource: who.neverSignedIn ? "" : pick(RESOURCES),
    RecentChanges: changes ? 1 + Math.floor(random() * 3) : 0,
    ChangeTypes: JSON.stringify(changes ? some(CHANGES, 3) : []),
    LastChange: changes ? recent() : null,
    ChangedBy: JSON.stringify(changes ? some(PEOPLE, 2).map((p) => `${p}@contoso.com`) : []),
    AzureOpsCount: azure ? 1 + Math.floor(random() * 40) : 0,
    LastAzureOp: azure ? recent() : null,
    AzureResources: JSON.stringify(
      azure
        ? some(APPS, 3).map(
            (app) =>
              `/subscriptions/${subscription}/resourceGroups/rg-${app}/providers/Microsoft.KeyVault/vaults/kv-${app}`,
          )
        : [],
    ),
    AzureOperations: JSON.stringify(azure ? some(OPERATIONS, 3) : []),
    RiskSignal: signal,
    IPAddresses: JSON.stringify(
      who.neverSignedIn ? [] : some(["20.50.2.17", "10.1.4.22", "52.168.0.9", "40.74.28.1"], 2),
    ),
  };
  return HUNT_COLUMNS.map((c) => values[c.name]);
}

/** What a day's run should find and do, known from how its result was made, independent of the code under test. */
export interface Expected {
  /** Rows the hunt returns. */
  findings: number;
  risky: number;
  new: number;
  escalated: number;
  resolved: number;
  /** Identity rows in the table before the run: what it must read. */
  storedRows: number;
  /** Identity rows the run must write: every new, escalated, resolved and newly tracked identity. */
  changedRows: number;
  /** Sentinel incidents owed: one per new or escalated finding. */
  incidents: number;
}

export interface BenchDay {
  name: "first run" | "steady day" | "re-run";
  now: Date;
  /** The hunt result as the Log Analytics REST API returns it (the replay file's shape). */
  body(): { tables: { name: string; columns: { name: string; type: string }[]; rows: unknown[][] }[] };
  expected: Expected;
}

/**
 * The three days the benchmark runs for `size` identities: a first run on empty state (every row new), a
 * steady day with 1% churn (a third brand-new risky identities, a third escalated to another signal, a third
 * gone from the result), and an identical re-run of the steady day's result.
 */
export function benchDays(size: number, seed: number): BenchDay[] {
  const everyone = Array.from({ length: size }, (_, i) => identity(seed, i));
  const churn = Math.round(size * CHURN);
  const newCount = Math.round(churn / 3);
  const escalateCount = Math.round(churn / 3);
  const resolveCount = churn - newCount - escalateCount;

  // Chosen with their own stream, so a change in the identity generator does not reshuffle the churn.
  const random = mulberry32(mix(seed, 0x5ead));
  const risky = everyone.filter((w) => w.signal !== "");
  const escalated = new Set(sample(random, risky, Math.min(escalateCount, risky.length)).map((w) => w.index));
  const resolved = new Set(
    sample(
      random,
      everyone.filter((w) => !escalated.has(w.index)),
      resolveCount,
    ).map((w) => w.index),
  );
  const newcomers = Array.from({ length: newCount }, (_, i) => {
    const who = identity(seed, size + i);
    return {
      ...who,
      signal: who.signal || (who.neverSignedIn ? NEVER_SIGNED_IN_SIGNALS[0] : SIGNED_IN_SIGNALS[0]),
    };
  });
  const steadyMembers = [
    ...everyone
      .filter((w) => !resolved.has(w.index))
      .map((w) => ({ who: w, signal: escalated.has(w.index) ? escalatedSignal(w) : w.signal })),
    ...newcomers.map((w) => ({ who: w, signal: w.signal })),
  ];

  const body = (members: readonly { who: SyntheticIdentity; signal: string }[], dayOffset: number) => () => ({
    tables: [
      {
        name: "PrimaryResult",
        columns: HUNT_COLUMNS.map(({ name, type }) => ({ name, type })),
        rows: members.map((m) => huntRow(seed, m.who, m.signal, dayOffset)),
      },
    ],
  });
  const steadyRisky = steadyMembers.filter((m) => m.signal !== "").length;
  const day2 = new Date(FIRST_DAY.getTime() + DAY_MS);
  const steadyBody = body(steadyMembers, 1);
  return [
    {
      name: "first run",
      now: FIRST_DAY,
      body: body(
        everyone.map((w) => ({ who: w, signal: w.signal })),
        0,
      ),
      expected: {
        findings: size,
        risky: risky.length,
        new: risky.length,
        escalated: 0,
        resolved: 0,
        storedRows: 0,
        changedRows: size,
        incidents: risky.length,
      },
    },
    {
      name: "steady day",
      now: day2,
      body: steadyBody,
      expected: {
        findings: steadyMembers.length,
        risky: steadyRisky,
        new: newCount,
        escalated: escalated.size,
        resolved: resolved.size,
        storedRows: size,
        changedRows: newCount + escalated.size + resolved.size,
        incidents: newCount + escalated.size,
      },
    },
    {
      name: "re-run",
      now: day2,
      body: steadyBody,
      expected: {
        findings: steadyMembers.length,
        risky: steadyRisky,
        new: 0,
        escalated: 0,
        resolved: 0,
        // Resolved rows stay in the table (a returning identity is recognised), so the re-run reads them too.
        storedRows: size + newCount,
        changedRows: 0,
        incidents: 0,
      },
    },
  ];
}

/** `count` distinct elements, uniformly, in a seeded order (a partial Fisher-Yates shuffle). */
function sample<T>(random: () => number, list: readonly T[], count: number): T[] {
  const copy = [...list];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, count);
}
