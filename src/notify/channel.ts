import type { ChannelName } from "../config.js";
import type { Finding } from "../hunt/finding.js";
import type { IdentityRecord } from "../state/records.js";

/** A finding some channel still owes a delivery of, with the record that says so. */
export interface OwedDelivery {
  record: IdentityRecord;
  finding: Finding;
  /** Owed since an earlier run: that run may have sent it and died before recording so. */
  retry: boolean;
}

export interface ChannelReport {
  /** ServicePrincipalIds delivered on this channel in this run. */
  delivered: string[];
  /** One line per failed request: what failed and what to do; the findings stay pending. */
  failures: string[];
}

export interface DeliveryContext {
  runId: string;
  now: Date;
  /** Retries stop at this wall-clock time so the run ends inside its budget. */
  deadline: number;
  /** Persists "delivered" for these identities at once, so a crash after it never re-sends them. */
  acknowledge(servicePrincipalIds: readonly string[]): Promise<void>;
}

/** Said once for what is left when the run's budget is spent; those findings stay pending for the next run. */
export function outOfTime(left: number, what: "Teams message" | "Sentinel incident"): string {
  return `${left} ${what}${left === 1 ? "" : "s"} left pending: the run's time budget (RUN_TIME_BUDGET_SECONDS) ran out; the next run retries`;
}

export interface Channel {
  readonly name: ChannelName;
  /**
   * Re-delivering what was delivered but never acknowledged repeats nothing on this channel, so the run may
   * store its acknowledgement together with a later channel's write of the same row, not in a write of its own.
   */
  readonly acknowledgesLazily?: boolean;
  deliver(owed: readonly OwedDelivery[], context: DeliveryContext): Promise<ChannelReport>;
}
