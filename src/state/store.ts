import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { TableEntity, TransactionAction } from "@azure/data-tables";
import { RestError, TableClient } from "@azure/data-tables";
import type { TokenCredential } from "@azure/identity";
import { isLoopback } from "../config.js";
import type { IdentityRecord, RunRecord } from "./records.js";
import { fromIdentityEntity, IDENTITY_PARTITION, RUN_PARTITION, runRowKey, toIdentityEntity } from "./records.js";

/** What a run needs from its state, so the run can be tested against any store. */
export interface StateStore {
  /** Where the state lives, for messages; never holds a key. */
  readonly location: string;
  loadIdentities(): Promise<IdentityRecord[]>;
  saveIdentities(records: readonly IdentityRecord[]): Promise<void>;
  acquireLease(runId: string, durationMs: number, wallNow: Date): Promise<Lease>;
  /** Releases the lease and writes the run record in one transaction. */
  finishRun(lease: Lease, run: RunRecord): Promise<void>;
}

export interface Lease {
  runId: string;
  etag: string;
}

export class LeaseHeldError extends Error {
  constructor(location: string, holder: string, until: string) {
    super(
      `Another run (${holder}) holds the lease on ${location} until ${until}; this run did nothing. ` +
        "Wait for it to finish, or for the lease to expire if that run died.",
    );
    this.name = "LeaseHeldError";
  }
}

export interface RequestCounter {
  reads: number;
  writes: number;
}

/** Counts requests as they leave, retries included, which is what the service bills and throttles. */
export function countingPolicy(counter: RequestCounter): PipelinePolicy {
  return {
    name: "stateRequestCounter",
    sendRequest(request, next) {
      if (request.method === "GET" || request.method === "HEAD") counter.reads++;
      else counter.writes++;
      return next(request);
    },
  };
}

const LEASE_ROW = "lease";
/** The service's limits for one transaction: 100 actions and 4 MiB, of which we use 3 to leave room for framing. */
const BATCH_SIZE = 100;
const BATCH_BYTES = 3 * 1024 * 1024;

/** Consecutive groups that each fit one transaction, by count and by their serialised size. */
export function batches<T>(entities: readonly T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const entity of entities) {
    // The body is JSON inside a multipart request: escape-heavy text can double in size on the wire.
    const size = 2 * Buffer.byteLength(JSON.stringify(entity), "utf8") + 512;
    if (group.length > 0 && (group.length === BATCH_SIZE || bytes + size > BATCH_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(entity);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

export class TableStateStore implements StateStore {
  constructor(
    private readonly client: TableClient,
    readonly location: string,
  ) {}

  static fromConnectionString(connectionString: string, table: string, counter: RequestCounter): TableStateStore {
    const client = TableClient.fromConnectionString(connectionString, table, {
      allowInsecureConnection: plainHttpOnLoopback(connectionString),
      additionalPolicies: [{ policy: countingPolicy(counter), position: "perRetry" }],
    });
    return new TableStateStore(client, `table ${table} at ${client.url.replace(/\?.*$/, "")}`);
  }

  static fromEndpoint(
    endpoint: string,
    table: string,
    credential: TokenCredential,
    counter: RequestCounter,
  ): TableStateStore {
    const client = new TableClient(endpoint, table, credential, {
      additionalPolicies: [{ policy: countingPolicy(counter), position: "perRetry" }],
    });
    return new TableStateStore(client, `table ${table} at ${endpoint}`);
  }

  async loadIdentities(): Promise<IdentityRecord[]> {
    const records: IdentityRecord[] = [];
    const pages = this.client
      .listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${IDENTITY_PARTITION}'` },
      })
      .byPage({ maxPageSize: 1000 });
    try {
      for await (const page of pages) {
        for (const entity of page) records.push(fromIdentityEntity(entity));
      }
    } catch (error) {
      throw this.failure("read the identity rows", error);
    }
    return records;
  }

  async saveIdentities(records: readonly IdentityRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const batch of batches(records.map(toIdentityEntity))) {
      const actions = batch.map((e): TransactionAction => ["upsert", e as unknown as TableEntity, "Replace"]);
      await this.submit(actions, `save ${records.length} identity rows`);
    }
  }

  async acquireLease(runId: string, durationMs: number, wallNow: Date): Promise<Lease> {
    const until = new Date(wallNow.getTime() + durationMs).toISOString();
    const entity = { partitionKey: RUN_PARTITION, rowKey: LEASE_ROW, Holder: runId, ExpiresAt: until };
    let current: { etag: string; Holder?: unknown; ExpiresAt?: unknown } | undefined;
    try {
      current = await this.client.getEntity(RUN_PARTITION, LEASE_ROW);
    } catch (error) {
      if (!(error instanceof RestError && error.statusCode === 404)) throw this.failure("read the lease", error);
      // The first run of a new deployment creates the table; later runs never pay for that request.
      if (isTableNotFound(error)) await this.createTable();
    }
    try {
      if (!current) {
        const created = await this.client.createEntity(entity);
        return { runId, etag: created.etag ?? "" };
      }
      const heldUntil = typeof current.ExpiresAt === "string" ? current.ExpiresAt : "";
      if (current.Holder && Date.parse(heldUntil) > wallNow.getTime()) {
        throw new LeaseHeldError(this.location, String(current.Holder), heldUntil);
      }
      const updated = await this.client.updateEntity(entity, "Replace", { etag: current.etag });
      return { runId, etag: updated.etag ?? "" };
    } catch (error) {
      // 409 on create or 412 on update: another run took the lease between our read and our write. Name it,
      // so whoever reads the message can tell which run that was.
      if (error instanceof RestError && (error.statusCode === 409 || error.statusCode === 412)) {
        const winner = await this.client
          .getEntity<{ Holder?: unknown; ExpiresAt?: unknown }>(RUN_PARTITION, LEASE_ROW)
          .catch(() => undefined);
        const holder = typeof winner?.Holder === "string" && winner.Holder ? winner.Holder : "a concurrent run";
        const until = typeof winner?.ExpiresAt === "string" ? winner.ExpiresAt : "it finishes";
        throw new LeaseHeldError(this.location, holder, until);
      }
      if (error instanceof LeaseHeldError) throw error;
      throw this.failure("take the lease", error);
    }
  }

  async finishRun(lease: Lease, run: RunRecord): Promise<void> {
    const released = { partitionKey: RUN_PARTITION, rowKey: LEASE_ROW, Holder: "", ExpiresAt: run.finishedAt };
    const record = {
      partitionKey: RUN_PARTITION,
      rowKey: runRowKey(new Date(run.startedAt), run.runId),
      RunId: run.runId,
      StartedAt: run.startedAt,
      FinishedAt: run.finishedAt,
      Status: run.status,
      Findings: run.findings,
      Risky: run.risky,
      New: run.new,
      Escalated: run.escalated,
      Reopened: run.reopened,
      Resolved: run.resolved,
      DeliveredTeams: run.delivered.teams,
      DeliveredSentinel: run.delivered.sentinel,
      Pending: run.pending,
      Error: (run.error ?? "").slice(0, 8000),
    };
    await this.submit(
      [
        ["update", released, "Replace", { etag: lease.etag }],
        ["create", record],
      ],
      "release the lease and record the run",
    );
  }

  private async submit(actions: TransactionAction[], what: string): Promise<void> {
    try {
      await this.client.submitTransaction(actions);
    } catch (error) {
      throw this.failure(what, error);
    }
  }

  private async createTable(): Promise<void> {
    try {
      await this.client.createTable();
    } catch (error) {
      throw this.failure("create the table", error);
    }
  }

  private failure(what: string, error: unknown): Error {
    return new Error(`Table Storage: could not ${what} in ${this.location}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Signed requests may travel over plain http only to a local emulator, never to a real account. */
function plainHttpOnLoopback(connectionString: string): boolean {
  if (/^UseDevelopmentStorage=true;?$/i.test(connectionString)) return true;
  const endpoint = /(?:^|;)\s*TableEndpoint=([^;]+)/i.exec(connectionString)?.[1];
  if (!endpoint) return false;
  try {
    const url = new URL(endpoint);
    return url.protocol === "http:" && isLoopback(url);
  } catch {
    return false;
  }
}

function isTableNotFound(error: RestError): boolean {
  return error.code === "TableNotFound" || /TableNotFound/.test(error.message);
}
