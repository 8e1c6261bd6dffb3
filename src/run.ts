import { randomUUID } from "node:crypto";
import type { ChannelName, HuntParameters } from "./config.js";
import type { DirectoryIdentity, DirectoryView } from "./graph/directory.js";
import { enrichFindings, isObjectId } from "./graph/directory.js";
import type { DirectorySource } from "./graph/source.js";
import { GET_BY_IDS_LIMIT } from "./graph/source.js";
import type { Finding } from "./hunt/finding.js";
import { fingerprintOf, isRisky } from "./hunt/finding.js";
import { parseFindings } from "./hunt/parse.js";
import { huntTimespan, renderHunt } from "./hunt/query.js";
import type { HuntSource } from "./hunt/source.js";
import type { Channel, ChannelReport, OwedDelivery } from "./notify/channel.js";
import type { ChangeKind, Plan } from "./state/diff.js";
import { diff, isDelivered } from "./state/diff.js";
import type { IdentityRecord, RunRecord } from "./state/records.js";
import { restoreFinding } from "./state/records.js";
import type { Lease, RequestCounter, StateStore } from "./state/store.js";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface RunDependencies {
  hunt: { template: string; parameters: HuntParameters };
  source: HuntSource;
  /** Microsoft Graph (or a replay of it), when GRAPH_ENRICHMENT is on. */
  directory?: DirectorySource;
  store: StateStore;
  /** Delivered in this order: Sentinel before Teams, so a card can link the incident just created. */
  channels: readonly Channel[];
  /** The channels a new finding is owed to; a configured channel without a sender stays pending. */
  channelNames: readonly ChannelName[];
  runTimeBudgetMs: number;
  log: Logger;
  requests: { logAnalytics: () => number; graph?: () => number; storage: RequestCounter };
  /** The hunt's notion of "now" (a replay's day); the wall clock still times the run and its lease. */
  now?: () => Date;
  wallClock?: () => number;
  runId?: string;
}

export type RunStatus = "done" | "pending" | "failed";

export interface RunSummary {
  runId: string;
  status: RunStatus;
  findings: number;
  risky: number;
  new: number;
  escalated: number;
  reopened: number;
  unchanged: number;
  resolved: number;
  delivered: Record<ChannelName, number>;
  pending: number;
  /** Present when enrichment is on. */
  directory?: DirectorySummary;
  requests: { logAnalytics: number; graph: number; storage: { reads: number; writes: number } };
  durationMs: number;
  statistics?: Record<string, unknown>;
  failures: string[];
  error?: string;
}

export interface DirectorySummary {
  /** Managed identities the directory lists; null when listing them failed. */
  inventory: number | null;
  /** Findings only the directory revealed: no sign-in or creation in the logs' lookback. */
  directoryOnly: number;
  /** Findings resolved because their identity is gone from the directory. */
  deleted: number;
  disabled: number;
  notEnriched: number;
  /** Why Graph could not be asked; the findings it could not enrich are still delivered. */
  error?: string;
}

const GRAPH_SHARE_OF_BUDGET = 0.25;

/** Extra time the lease outlives the budget, so a slow last write never races the next run. */
const LEASE_MARGIN_MS = 60_000;

/** One run, as the timer and the CLI both do it: lease, hunt, parse, diff, persist plan, deliver, record. */
export async function runDetection(deps: RunDependencies): Promise<RunSummary> {
  const wall = deps.wallClock ?? Date.now;
  const startedAt = wall();
  const now = deps.now?.() ?? new Date(startedAt);
  const runId = deps.runId ?? randomUUID();
  const summary: RunSummary = {
    runId,
    status: "failed",
    findings: 0,
    risky: 0,
    new: 0,
    escalated: 0,
    reopened: 0,
    unchanged: 0,
    resolved: 0,
    delivered: { teams: 0, sentinel: 0 },
    pending: 0,
    requests: { logAnalytics: 0, graph: 0, storage: { reads: 0, writes: 0 } },
    durationMs: 0,
    failures: [],
  };
  const finish = () => {
    summary.requests = {
      logAnalytics: deps.requests.logAnalytics(),
      graph: deps.requests.graph?.() ?? 0,
      storage: { reads: deps.requests.storage.reads, writes: deps.requests.storage.writes },
    };
    summary.durationMs = wall() - startedAt;
    return summary;
  };

  let lease: Lease;
  try {
    lease = await deps.store.acquireLease(runId, deps.runTimeBudgetMs + LEASE_MARGIN_MS, new Date(startedAt));
  } catch (error) {
    summary.error = (error as Error).message;
    return finish();
  }

  try {
    await huntAndDeliver(deps, summary, now, startedAt);
  } catch (error) {
    summary.status = "failed";
    summary.error = (error as Error).message;
  }

  // The record keeps the summary's counts; the store picks the fields it persists.
  const record: RunRecord = {
    ...summary,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(wall()).toISOString(),
  };
  try {
    await deps.store.finishRun(lease, record);
  } catch (error) {
    // The plan and acknowledgements are already stored; only the record is lost and the lease will expire.
    deps.log.warn(`Could not record run ${runId} or release the lease: ${(error as Error).message}`);
  }
  return finish();
}

/** Counted in the summary under their own name; `tracked` changes are recorded but not counted. */
const COUNTED: ReadonlySet<ChangeKind> = new Set(["new", "escalated", "reopened", "unchanged", "resolved"]);

async function huntAndDeliver(deps: RunDependencies, summary: RunSummary, now: Date, startedAt: number) {
  const deadline = startedAt + deps.runTimeBudgetMs;
  const wall = deps.wallClock ?? Date.now;
  // A slow or throttled Graph may cost the enrichment, never the hunt or the deliveries: each Graph step gets
  // at most this share of the budget.
  const graphDeadline = () => Math.min(deadline, wall() + deps.runTimeBudgetMs * GRAPH_SHARE_OF_BUDGET);
  // The inventory goes into the hunt, which looks up the logs of the identities only the directory knows.
  const inventory = deps.directory ? await listInventory(deps, deps.directory, graphDeadline()) : undefined;
  const query = renderHunt(
    deps.hunt.template,
    deps.hunt.parameters,
    inventory?.identities.map((i) => i.id),
  );
  const output = await deps.source.run(query, huntTimespan(deps.hunt.parameters), deadline);
  let findings = parseFindings(output.table, deps.source.description);
  if (deps.directory && inventory) {
    findings = await enrich(deps, deps.directory, findings, inventory, summary, graphDeadline());
  }
  summary.statistics = output.statistics;
  summary.findings = findings.length;
  // A deleted identity's finding is resolved, not reported: it is no longer a risk.
  summary.risky = findings.filter((f) => isRisky(f) && f.directory?.status !== "deleted").length;

  // Everything above may fail without a trace; from here on state changes, plan first.
  const previous = await deps.store.loadIdentities();
  const plan = diff(previous, findings, now, {
    channels: deps.channelNames,
    // Without the inventory the hunt could not see the identities only the directory knows: not a reason to resolve them.
    keepIfAbsent: inventory?.error ? (record) => record.finding.discoveredBy === "Directory" : undefined,
  });
  for (const change of plan.changes) {
    if (COUNTED.has(change.kind)) summary[change.kind as Exclude<ChangeKind, "tracked">]++;
  }
  await deps.store.saveIdentities(plan.writes);

  const records = new Map<string, IdentityRecord>(previous.map((r) => [r.servicePrincipalId.toLowerCase(), r]));
  for (const change of plan.changes) records.set(change.servicePrincipalId.toLowerCase(), change.after);
  await deliverOwed(deps, summary, records, findings, plan, now, startedAt + deps.runTimeBudgetMs);

  // A channel taken out of NOTIFY_CHANNELS owes nothing any more; its old flags stay, should it come back.
  summary.pending = [...records.values()].filter((r) => r.pending.some((c) => deps.channelNames.includes(c))).length;
  summary.status = summary.pending > 0 ? "pending" : "done";
}

interface Inventory {
  identities: DirectoryIdentity[];
  error?: string;
}

async function listInventory(deps: RunDependencies, directory: DirectorySource, deadline: number): Promise<Inventory> {
  try {
    return { identities: await directory.listManagedIdentities(deadline) };
  } catch (error) {
    const message = `Directory inventory from ${directory.description} failed: ${(error as Error).message}`;
    deps.log.warn(`${message}; the hunt runs without it`);
    return { identities: [], error: message };
  }
}

/**
 * Adds the directory's view to every finding. The inventory already answers for every managed identity;
 * the rest (a deleted identity, a service principal the name heuristic caught) are asked for by id, in
 * batches. Graph failing costs the enrichment, never the run: those findings go out marked not enriched.
 */
async function enrich(
  deps: RunDependencies,
  directory: DirectorySource,
  findings: Finding[],
  inventory: Inventory,
  summary: RunSummary,
  deadline: number,
): Promise<Finding[]> {
  const found = new Map(inventory.identities.map((i) => [i.id, i]));
  const asked = new Set<string>();
  let error = inventory.error;
  const unknown = [
    ...new Set(
      findings.map((f) => f.servicePrincipalId.toLowerCase()).filter((id) => isObjectId(id) && !found.has(id)),
    ),
  ];
  for (let start = 0; start < unknown.length; start += GET_BY_IDS_LIMIT) {
    const batch = unknown.slice(start, start + GET_BY_IDS_LIMIT);
    try {
      for (const identity of await directory.getByIds(batch, deadline)) found.set(identity.id, identity);
      for (const id of batch) asked.add(id);
    } catch (cause) {
      const message = `Directory lookup from ${directory.description} failed: ${(cause as Error).message}`;
      deps.log.warn(`${message}; ${unknown.length - start} findings go out not enriched`);
      error = error ? `${error}; ${message}` : message;
      break;
    }
  }
  const view: DirectoryView = { found, asked };
  const enriched = enrichFindings(findings, view);
  const count = (test: (f: Finding) => boolean) => enriched.filter(test).length;
  summary.directory = {
    inventory: inventory.error ? null : inventory.identities.length,
    directoryOnly: count((f) => f.discoveredBy === "Directory"),
    deleted: count((f) => f.directory?.status === "deleted"),
    disabled: count((f) => f.directory?.status === "found" && !f.directory.accountEnabled),
    notEnriched: count((f) => f.directory?.status === "not enriched"),
    ...(error ? { error } : {}),
  };
  return enriched;
}

/** Delivers every owed finding, channel by channel; a channel's failure is reported, never thrown. */
async function deliverOwed(
  deps: RunDependencies,
  summary: RunSummary,
  records: Map<string, IdentityRecord>,
  findings: readonly Finding[],
  plan: Plan,
  now: Date,
  deadline: number,
): Promise<void> {
  const currentByFingerprint = new Map(findings.map((f) => [fingerprintOf(f), f]));
  const plannedNow = new Set(
    plan.changes.filter((c) => isDelivered(c.kind)).map((c) => c.servicePrincipalId.toLowerCase()),
  );
  const owedOn = (channel: ChannelName): OwedDelivery[] =>
    [...records.values()]
      .filter((r) => r.pending.includes(channel))
      .map((record) => {
        // Fresh values where the same finding is still in the result; otherwise its stored evidence.
        const stored = restoreFinding(record.finding, now);
        const finding = currentByFingerprint.get(fingerprintOf(stored)) ?? stored;
        return { record, finding, retry: !plannedNow.has(record.servicePrincipalId.toLowerCase()) };
      });

  // Identities whose flags for these channels only memory has cleared so far: a lazily acknowledging channel's
  // flag rides on a later channel's write of the same row, so a row owed to two channels is written once, not twice.
  const unstored = new Map<string, ChannelName[]>();
  // Once an acknowledgement cannot be stored, nothing more is sent: what cannot be recorded would be sent again.
  let storageLost: Error | undefined;
  const store = async (updated: readonly IdentityRecord[]) => {
    try {
      await deps.store.saveIdentities(updated);
    } catch (error) {
      storageLost = error as Error;
      throw error;
    }
    // Only what is stored counts as delivered: a failed save leaves these pending in the summary too.
    for (const record of updated) {
      const key = record.servicePrincipalId.toLowerCase();
      records.set(key, record);
      unstored.delete(key);
    }
  };

  for (const [index, channel] of deps.channels.entries()) {
    const owed = owedOn(channel.name);
    if (owed.length === 0) continue;
    const later = new Set(deps.channels.slice(index + 1).map((c) => c.name));
    const acknowledge = async (ids: readonly string[]) => {
      const direct: IdentityRecord[] = [];
      for (const id of ids) {
        const key = id.toLowerCase();
        const record = records.get(key);
        if (!record) continue;
        const updated = { ...record, pending: record.pending.filter((c) => c !== channel.name) };
        if (channel.acknowledgesLazily && updated.pending.some((c) => later.has(c))) {
          records.set(key, updated);
          unstored.set(key, [...(unstored.get(key) ?? []), channel.name]);
        } else {
          direct.push(updated);
        }
      }
      if (direct.length > 0) await store(direct);
    };
    let report: ChannelReport;
    try {
      report = await channel.deliver(owed, { runId: summary.runId, now, deadline, acknowledge });
    } catch (error) {
      // The plan is stored, so whatever this channel did not acknowledge is retried by the next run.
      report = { delivered: [], failures: [`${channel.name}: ${(error as Error).message}`] };
    }
    summary.delivered[channel.name] += report.delivered.length;
    for (const failure of report.failures) {
      summary.failures.push(failure);
      deps.log.warn(failure);
    }
    if (storageLost) {
      forgetUnstored();
      throw new Error(
        `${storageLost.message}; no further deliveries were attempted, and the next run retries every one not recorded as done`,
      );
    }
  }

  // What no later write carried (that channel failed or ran out of time) is stored now.
  if (unstored.size === 0) return;
  const carried = unstored.size;
  try {
    await store([...unstored.keys()].flatMap((key) => records.get(key) ?? []));
  } catch (error) {
    forgetUnstored();
    throw new Error(
      `Could not record ${carried} deliveries (${(error as Error).message}); the next run looks each one up before sending it again`,
    );
  }

  /** Only what is stored counts as delivered: flags only memory cleared are owed again. */
  function forgetUnstored(): void {
    for (const [key, channels] of unstored) {
      const record = records.get(key);
      if (record) records.set(key, { ...record, pending: [...channels, ...record.pending] });
      for (const channel of channels) summary.delivered[channel]--;
    }
    unstored.clear();
  }
}
