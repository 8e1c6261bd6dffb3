import type { ChannelName } from "../../src/config.js";
import type { Finding } from "../../src/hunt/finding.js";
import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import type { RawTable } from "../../src/hunt/parse.js";
import type { HuntOutput, HuntSource } from "../../src/hunt/source.js";
import { HuntSourceError } from "../../src/hunt/source.js";
import type { Channel, ChannelReport, DeliveryContext, OwedDelivery } from "../../src/notify/channel.js";
import type { IdentityEntity, IdentityRecord, RunRecord } from "../../src/state/records.js";
import { fromIdentityEntity, toIdentityEntity } from "../../src/state/records.js";
import type { Lease, StateStore } from "../../src/state/store.js";
import { batches, LeaseHeldError } from "../../src/state/store.js";

/**
 * In-memory stand-ins for the run's edges (state, hunt source, channels), for property tests that run the
 * real runDetection thousands of times. The store keeps rows as the Table entities the real store writes,
 * in RowKey order, applies each transaction whole, and keeps the lease with an ETag, as Table Storage does.
 */
export class MemoryStateStore implements StateStore {
  readonly location = "memory";
  readonly rows = new Map<string, IdentityEntity>();
  readonly runs: RunRecord[] = [];
  lease: { holder: string; expiresAt: string; etag: number } | undefined;

  async loadIdentities(): Promise<IdentityRecord[]> {
    return [...this.rows.keys()].sort().map((key) => fromIdentityEntity({ ...this.rows.get(key) }));
  }

  async saveIdentities(records: readonly IdentityRecord[]): Promise<void> {
    for (const batch of batches(records.map(toIdentityEntity))) {
      for (const entity of batch) this.rows.set(entity.rowKey, { ...entity });
    }
  }

  async acquireLease(runId: string, durationMs: number, wallNow: Date): Promise<Lease> {
    if (this.lease?.holder && Date.parse(this.lease.expiresAt) > wallNow.getTime()) {
      throw new LeaseHeldError(this.location, this.lease.holder, this.lease.expiresAt);
    }
    const etag = (this.lease?.etag ?? 0) + 1;
    this.lease = { holder: runId, expiresAt: new Date(wallNow.getTime() + durationMs).toISOString(), etag };
    return { runId, etag: String(etag) };
  }

  async finishRun(lease: Lease, run: RunRecord): Promise<void> {
    if (!this.lease || String(this.lease.etag) !== lease.etag) throw new Error("memory: the lease's etag changed");
    this.lease = { holder: "", expiresAt: run.finishedAt, etag: this.lease.etag + 1 };
    this.runs.push(run);
  }

  /** The identity rows as text, to compare before and after a run. */
  snapshot(): string {
    return JSON.stringify([...this.rows.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/** A hunt result as the service would return it for these findings (dynamic values as JSON text). */
export function tableOf(findings: readonly Finding[]): RawTable {
  return {
    columns: HUNT_COLUMNS.map(({ name, type }) => ({ name, type })),
    rows: findings.map((f) =>
      HUNT_COLUMNS.map(({ field, type }) => (type === "dynamic" ? JSON.stringify(f[field]) : f[field])),
    ),
  };
}

/** Returns whatever the test set for the next run: a table, or a failure of the hunt. */
export class MemorySource implements HuntSource {
  readonly description = "memory source";
  next: RawTable | "error" = { columns: [], rows: [] };

  async run(): Promise<HuntOutput> {
    if (this.next === "error") throw new HuntSourceError(this.description, "the workspace answered 500");
    return { table: this.next };
  }
}

export type ChannelBehaviour = "ok" | "fail" | "partial";

export interface Delivered {
  channel: ChannelName;
  servicePrincipalId: string;
  fingerprint: string;
  riskSignal: string;
  episode: number;
  run: number;
}

/**
 * A channel that records what it delivers and acknowledges it, as the real ones do. `behaviour` decides the
 * next run: deliver everything, nothing (each fails), or the first half of what is owed.
 */
export class RecordingChannel implements Channel {
  behaviour: ChannelBehaviour = "ok";
  run = 0;
  readonly delivered: Delivered[] = [];

  constructor(readonly name: ChannelName) {}

  async deliver(owed: readonly OwedDelivery[], context: DeliveryContext): Promise<ChannelReport> {
    const count = this.behaviour === "ok" ? owed.length : this.behaviour === "fail" ? 0 : Math.ceil(owed.length / 2);
    const sent = owed.slice(0, count);
    for (const item of sent) {
      this.delivered.push({
        channel: this.name,
        servicePrincipalId: item.finding.servicePrincipalId.toLowerCase(),
        fingerprint: `${item.finding.servicePrincipalId.toLowerCase()}|${item.finding.riskSignal}`,
        riskSignal: item.finding.riskSignal,
        episode: item.record.episode,
        run: this.run,
      });
    }
    if (sent.length > 0) await context.acknowledge(sent.map((o) => o.finding.servicePrincipalId));
    return {
      delivered: sent.map((o) => o.finding.servicePrincipalId),
      failures: owed.slice(count).map((o) => `${this.name}: ${o.finding.servicePrincipalId} refused`),
    };
  }
}
