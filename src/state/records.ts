import type { ChannelName } from "../config.js";
import { CHANNEL_NAMES } from "../config.js";
import type { Finding } from "../hunt/finding.js";

/** What the detector remembers about one identity between runs. */
export interface IdentityRecord {
  servicePrincipalId: string;
  /** (ServicePrincipalId, RiskSignal) of the finding now tracked; the diff compares these. */
  fingerprint: string;
  riskSignal: string;
  status: "open" | "resolved";
  /** Bumped each time the identity reappears after being resolved, so a reopened finding gets a new incident. */
  episode: number;
  /** When this fingerprint first appeared in this episode. */
  since: string;
  resolvedAt: string | null;
  /** Why it was resolved: gone from the hunt's result, or deleted from the directory. */
  resolvedReason: string | null;
  /**
   * The finding as it was when its fingerprint last changed: the evidence every delivery renders. Not
   * refreshed on days when only volatile values move, so an unchanged day writes nothing.
   */
  finding: StoredFinding;
  /** Channels that still owe a delivery of `finding`. */
  pending: ChannelName[];
}

/** A finding without its volatile day count, which is derived from `signinAnchor` and the run's clock. */
export type StoredFinding = Omit<Finding, "daysSinceSignin"> & { signinAnchor: string };

export interface RunRecord {
  runId: string;
  startedAt: string;
  finishedAt: string;
  status: "done" | "pending" | "failed";
  findings: number;
  risky: number;
  new: number;
  escalated: number;
  reopened: number;
  resolved: number;
  delivered: Record<ChannelName, number>;
  pending: number;
  error?: string;
}

const DAY_MS = 86_400_000;

export function storeFinding(finding: Finding, now: Date): StoredFinding {
  const { daysSinceSignin, ...rest } = finding;
  // The hunt counts whole days from the last sign-in, or from creation for an identity that never signed in.
  const anchor = finding.lastSignin ?? new Date(now.getTime() - daysSinceSignin * DAY_MS).toISOString();
  return { ...rest, signinAnchor: anchor };
}

export function restoreFinding(stored: StoredFinding, now: Date): Finding {
  const { signinAnchor, ...rest } = stored;
  // Calendar (UTC) day boundaries crossed, as the hunt's datetime_diff("day", ...) counts, not elapsed 24 h periods.
  const days = Math.max(0, Math.floor(now.getTime() / DAY_MS) - Math.floor(Date.parse(signinAnchor) / DAY_MS));
  // Rows stored before the hunt had a DiscoveredBy column lack it.
  return { ...rest, discoveredBy: rest.discoveredBy ?? "", daysSinceSignin: days };
}

export const IDENTITY_PARTITION = "identity";
export const RUN_PARTITION = "run";

/**
 * Table keys may not hold / \ # ? or control characters, and '%' is escaped too so the mapping is
 * reversible. Managed identity ids are GUIDs and pass through unchanged.
 */
export function safeKey(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be escaped
  return value.toLowerCase().replace(/[/\\#?%\u0000-\u001f\u007f-\u009f]/g, (c) => {
    return `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/** Newest first under the table's ascending RowKey order. */
export function runRowKey(startedAt: Date, runId: string): string {
  return `${String(8_640_000_000_000_000 - startedAt.getTime()).padStart(16, "0")}-${runId}`;
}

/** Table Storage caps a string property at 64 KiB of UTF-16; leave room for the rest of the entity. */
const MAX_FINDING_CHARS = 30_000;

export interface IdentityEntity {
  partitionKey: string;
  rowKey: string;
  ServicePrincipalId: string;
  Fingerprint: string;
  RiskSignal: string;
  Status: string;
  Episode: number;
  Since: string;
  ResolvedAt: string;
  ResolvedReason: string;
  Finding: string;
  Pending: string;
}

export function toIdentityEntity(record: IdentityRecord): IdentityEntity {
  let findingJson = JSON.stringify(record.finding);
  if (findingJson.length > MAX_FINDING_CHARS) {
    findingJson = JSON.stringify({ ...record.finding, extra: { _omitted: "extra evidence too large to store" } });
  }
  if (findingJson.length > MAX_FINDING_CHARS) findingJson = JSON.stringify(bounded(record.finding));
  return {
    partitionKey: IDENTITY_PARTITION,
    rowKey: safeKey(record.servicePrincipalId),
    ServicePrincipalId: record.servicePrincipalId,
    Fingerprint: record.fingerprint,
    RiskSignal: record.riskSignal,
    Status: record.status,
    Episode: record.episode,
    Since: record.since,
    ResolvedAt: record.resolvedAt ?? "",
    ResolvedReason: record.resolvedReason ?? "",
    Finding: findingJson,
    Pending: record.pending.join(","),
  };
}

/** Every string and list cut to a size that fits the property whatever the logs held. */
function bounded(finding: StoredFinding): StoredFinding {
  const text = (value: string) => value.slice(0, 512);
  const list = (values: string[]) => values.slice(0, 10).map(text);
  return {
    ...finding,
    servicePrincipalId: text(finding.servicePrincipalId),
    servicePrincipalName: text(finding.servicePrincipalName),
    stalenessCategory: text(finding.stalenessCategory),
    lastResource: text(finding.lastResource),
    riskSignal: text(finding.riskSignal),
    changeTypes: list(finding.changeTypes),
    changedBy: list(finding.changedBy),
    azureResources: list(finding.azureResources),
    azureOperations: list(finding.azureOperations),
    ipAddresses: list(finding.ipAddresses),
    extra: { _omitted: "extra evidence too large to store" },
  };
}

export function fromIdentityEntity(entity: Record<string, unknown>): IdentityRecord {
  // Only a hand edit or another program writes a row this code cannot read: name it so it can be fixed or deleted.
  const fail = (problem: string): never => {
    throw new Error(
      `Identity row (PartitionKey ${IDENTITY_PARTITION}, RowKey ${String(entity.rowKey)}): ${problem}; fix or delete that row`,
    );
  };
  const text = (name: string): string => {
    const value = entity[name];
    if (typeof value !== "string") return fail(`property ${name} is missing or not a string`);
    return value;
  };
  const status = text("Status");
  if (status !== "open" && status !== "resolved") return fail(`Status "${status}" is unknown`);
  const episode = entity.Episode;
  if (typeof episode !== "number") return fail("property Episode is missing or not a number");
  let finding: StoredFinding;
  try {
    finding = JSON.parse(text("Finding")) as StoredFinding;
  } catch (error) {
    return fail(`property Finding is not JSON (${(error as Error).message})`);
  }
  const pending = text("Pending")
    .split(",")
    .filter(Boolean)
    .filter((name): name is ChannelName => (CHANNEL_NAMES as readonly string[]).includes(name));
  return {
    servicePrincipalId: text("ServicePrincipalId"),
    fingerprint: text("Fingerprint"),
    riskSignal: text("RiskSignal"),
    status,
    episode,
    since: text("Since"),
    resolvedAt: text("ResolvedAt") || null,
    // Rows written before reasons were recorded have none.
    resolvedReason: typeof entity.ResolvedReason === "string" && entity.ResolvedReason ? entity.ResolvedReason : null,
    finding,
    pending,
  };
}
