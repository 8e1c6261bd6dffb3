import type { ChannelName } from "../config.js";
import type { Finding } from "../hunt/finding.js";
import { fingerprintOf, isRisky } from "../hunt/finding.js";
import type { IdentityRecord } from "./records.js";
import { storeFinding } from "./records.js";

/**
 * Why an identity's record changes (or does not) in this run:
 * - new: a risky fingerprint that was not open before (first sighting, or a tracked identity turned risky)
 * - escalated: an open risky finding whose RiskSignal changed to another signal
 * - reopened: a resolved identity back with a risk signal (a new episode)
 * - unchanged: the same fingerprint is still open; nothing is written or sent
 * - tracked: a stale identity without a risk signal appeared, came back or lost its signal; recorded, not sent
 * - resolved: an open identity is gone from the hunt's result, or deleted from the directory
 */
export type ChangeKind = "new" | "escalated" | "reopened" | "unchanged" | "tracked" | "resolved";

export interface Change {
  kind: ChangeKind;
  servicePrincipalId: string;
  before: IdentityRecord | undefined;
  after: IdentityRecord;
}

export interface Plan {
  changes: Change[];
  /** Records to persist before any delivery: every change but `unchanged`. */
  writes: IdentityRecord[];
}

export interface DiffPolicy {
  /** Channels a new risky finding is owed to. */
  channels: readonly ChannelName[];
  /**
   * Open records that stay as they are when absent from the result, because what would have found them was not
   * asked this time (the directory inventory failed, so its identities were not in the hunt).
   */
  keepIfAbsent?: (record: IdentityRecord) => boolean;
}

/**
 * A stale identity cannot stop being stale and become stale again within days (that takes a full stale
 * threshold without a sign-in), so one that comes back this soon with the same signal was hidden by a gap in
 * the data (ingestion delay, a table briefly missing), not resolved. It is tracked again, not re-reported.
 */
export const REAPPEARANCE_GRACE_MS = 7 * 86_400_000;

export const GONE_FROM_RESULT = "no longer in the hunt's result";
/** A deleted identity can neither sign in nor hold access: nothing to act on, so nothing is sent. */
export const DELETED_FROM_DIRECTORY = "deleted from the directory";

const DELIVERED_KINDS: ReadonlySet<ChangeKind> = new Set(["new", "escalated", "reopened"]);
export const isDelivered = (kind: ChangeKind): boolean => DELIVERED_KINDS.has(kind);

/** Decides, from what was stored and what the hunt found now, what each identity's record becomes. */
export function diff(
  previous: readonly IdentityRecord[],
  current: readonly Finding[],
  now: Date,
  policy: DiffPolicy,
): Plan {
  const at = now.toISOString();
  const byId = new Map(previous.map((record) => [record.servicePrincipalId.toLowerCase(), record]));
  const seen = new Set<string>();
  const changes: Change[] = [];

  for (const finding of current) {
    const key = finding.servicePrincipalId.toLowerCase();
    seen.add(key);
    const before = byId.get(key);
    if (finding.directory?.status === "deleted") {
      changes.push(deletedChange(before, finding, now));
      continue;
    }
    const fingerprint = fingerprintOf(finding);
    const kind = classify(before, finding, fingerprint, now);
    if (kind === "unchanged" && before) {
      changes.push({ kind, servicePrincipalId: finding.servicePrincipalId, before, after: before });
      continue;
    }
    // Every delivered change starts a new episode, so its Sentinel incident is a new one: a signal that comes
    // back (A, then none, then A) must not land on the incident an analyst already closed.
    const episode = before ? before.episode + (isDelivered(kind) ? 1 : 0) : 1;
    const base = {
      servicePrincipalId: finding.servicePrincipalId,
      fingerprint,
      riskSignal: finding.riskSignal,
      status: "open" as const,
      episode,
      since: at,
      resolvedAt: null,
      resolvedReason: null,
    };
    const after: IdentityRecord = isDelivered(kind)
      ? { ...base, finding: storeFinding(finding, now), pending: [...policy.channels] }
      : before && before.pending.length > 0
        ? // A delivery still owed for the earlier risky finding stays owed: a risky finding is never lost.
          { ...base, finding: before.finding, pending: before.pending }
        : { ...base, finding: storeFinding(finding, now), pending: [] };
    changes.push({ kind, servicePrincipalId: finding.servicePrincipalId, before, after });
  }

  for (const before of previous) {
    if (before.status !== "open" || seen.has(before.servicePrincipalId.toLowerCase())) continue;
    if (policy.keepIfAbsent?.(before)) {
      changes.push({ kind: "unchanged", servicePrincipalId: before.servicePrincipalId, before, after: before });
      continue;
    }
    changes.push({
      kind: "resolved",
      servicePrincipalId: before.servicePrincipalId,
      before,
      after: { ...before, status: "resolved", resolvedAt: at, resolvedReason: GONE_FROM_RESULT },
    });
  }

  return { changes, writes: changes.filter((c) => c.kind !== "unchanged").map((c) => c.after) };
}

/** Recorded as resolved, owing nothing: a delivery still pending for it is withdrawn. */
function deletedChange(before: IdentityRecord | undefined, finding: Finding, now: Date): Change {
  const { servicePrincipalId } = finding;
  if (before?.status === "resolved") return { kind: "unchanged", servicePrincipalId, before, after: before };
  const at = now.toISOString();
  const after: IdentityRecord = {
    servicePrincipalId,
    fingerprint: fingerprintOf(finding),
    riskSignal: finding.riskSignal,
    episode: 1,
    since: at,
    ...before,
    finding: storeFinding(finding, now),
    status: "resolved",
    resolvedAt: at,
    resolvedReason: DELETED_FROM_DIRECTORY,
    pending: [],
  };
  return { kind: "resolved", servicePrincipalId, before, after };
}

function classify(before: IdentityRecord | undefined, finding: Finding, fingerprint: string, now: Date): ChangeKind {
  const risky = isRisky(finding);
  if (!before) return risky ? "new" : "tracked";
  if (before.status === "resolved") {
    const resolvedFor = now.getTime() - Date.parse(before.resolvedAt ?? "");
    // A gap in the logs can hide an identity for days; a deletion is Graph's word, so one back from it is news.
    const sameSoon =
      before.fingerprint === fingerprint &&
      resolvedFor < REAPPEARANCE_GRACE_MS &&
      before.resolvedReason !== DELETED_FROM_DIRECTORY;
    return risky && !sameSoon ? "reopened" : "tracked";
  }
  if (before.fingerprint === fingerprint) return "unchanged";
  if (!risky) return "tracked";
  return before.riskSignal === "" ? "new" : "escalated";
}
