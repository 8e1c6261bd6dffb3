import { beforeAll, describe, expect, it } from "vitest";
import { fromIdentityEntity } from "../../src/state/records.js";
import { buildCli } from "../helpers/cli.js";
import type { KillPoint, Target, TrialOutcome } from "../helpers/crashTrial.js";
import { label, runTrial } from "../helpers/crashTrial.js";
import { sampleDay } from "../helpers/sampleDays.js";
import { sampleIds } from "../helpers/tables.js";

/**
 * Crash anywhere: the built CLI replays two days of the samples against the Teams and ARM stand-ins and
 * Azurite, and is killed with SIGKILL at every request it makes to any of them over those two days, before
 * the request is served, while a state write is half sent, and after it was served but before the answer
 * arrived. Then it is run again until both days complete. The kill points are a fixed schedule taken from a
 * run without faults, so every trial is reproducible and "many moments" means every request there is.
 *
 * Across all trials: every risky finding reaches both channels, Sentinel holds one incident per finding and
 * episode, Teams shows a finding more often than it should at most once per kill, every state row reads
 * back, and the state ends exactly as in the run without faults.
 */

const IDS = sampleIds();
const CONCURRENCY = 4;

let reference: TrialOutcome;

beforeAll(async () => {
  await buildCli();
  reference = await runTrial(undefined);
}, 120_000);

/** How often each sample identity appears across the accepted Teams messages. */
function appearances(messages: readonly Record<string, unknown>[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) {
    const text = JSON.stringify(message);
    for (const [name, id] of Object.entries(IDS)) if (text.includes(id)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Teams messages beyond those of the run without faults: each is a digest posted again after a crash. */
const repeatedMessages = (outcome: TrialOutcome): number => outcome.teams.length - reference.teams.length;

/** The identity rows as an operator would compare them: without the service's etag and timestamp. */
const rowsOf = (outcome: TrialOutcome) =>
  outcome.entities
    .filter((e) => e.partitionKey === "identity")
    .map(({ etag: _etag, timestamp: _timestamp, ...row }) => row);

/** What is wrong with one trial's outcome; empty when every invariant holds. */
function problemsOf(outcome: TrialOutcome): string[] {
  const problems: string[] = [];
  if (outcome.kills > 1) problems.push(`killed ${outcome.kills} times, expected at most once`);
  const finished = outcome.exits.filter((e) => e.signal !== "SIGKILL");
  if (finished.length !== 2) problems.push(`${finished.length} runs completed, expected one per day`);
  for (const exit of finished) {
    if (exit.code !== 0) problems.push(`a run exited ${exit.code}: ${exit.stdout.trim()} ${exit.stderr.trim()}`);
  }

  // Sentinel: exactly the incidents of the run without faults, one per finding (identity and signal).
  const ids = outcome.incidents.map((i) => i.id).sort();
  const expectedIds = reference.incidents.map((i) => i.id).sort();
  if (JSON.stringify(ids) !== JSON.stringify(expectedIds)) {
    problems.push(`incidents ${ids.join(",")} instead of ${expectedIds.join(",")}`);
  }
  const findings = outcome.incidents.map((i) => {
    const id = /ServicePrincipalId: (\S+)/.exec(String(i.properties.description))?.[1];
    const labels = (i.properties.labels as { labelName: string }[]).map((l) => l.labelName);
    return `${id}|${labels.find((l) => /^[A-Z][A-Za-z]+$/.test(l) && l !== "StaleManagedIdentityHunt")}`;
  });
  if (new Set(findings).size !== findings.length) problems.push(`two incidents for one finding: ${findings.join(" ")}`);

  // Teams: every identity at least as often as without faults; a repeated message at most once per kill.
  const got = appearances(outcome.teams);
  for (const [name, expected] of appearances(reference.teams)) {
    const count = got.get(name) ?? 0;
    if (count < expected) problems.push(`Teams showed ${name} ${count} times, expected ${expected}`);
    if (count > expected + outcome.kills)
      problems.push(`Teams showed ${name} ${count} times after ${outcome.kills} kills`);
  }
  for (const name of got.keys()) {
    if (!appearances(reference.teams).has(name)) problems.push(`Teams showed ${name}, which is not risky`);
  }
  const repeats = repeatedMessages(outcome);
  if (repeats > outcome.kills) problems.push(`${repeats} repeated Teams messages after ${outcome.kills} kills`);

  // State: every row reads back, nothing is owed, the lease is free, and the rows are the fault-free run's.
  for (const entity of outcome.entities.filter((e) => e.partitionKey === "identity")) {
    try {
      const record = fromIdentityEntity(entity);
      if (record.pending.length > 0) problems.push(`${record.servicePrincipalId} still owes ${record.pending}`);
    } catch (error) {
      problems.push(`corrupt row: ${(error as Error).message}`);
    }
  }
  const lease = outcome.entities.find((e) => e.partitionKey === "run" && e.rowKey === "lease");
  if (lease?.Holder !== "") problems.push(`the lease is still held by ${String(lease?.Holder)}`);
  if (JSON.stringify(rowsOf(outcome)) !== JSON.stringify(rowsOf(reference))) {
    problems.push("the identity rows differ from the run without faults");
  }
  problems.push(...outcome.violations.map((v) => `stand-in refused a request: ${v}`));
  return problems;
}

/**
 * Every kill point of one target: each request of the fault-free run, at each moment that differs for it.
 * A read has no effect to lose, so killing after it was served is killing before: only "before" is swept.
 */
function killPoints(target: Target): KillPoint[] {
  return reference.requests[target].flatMap((request, i) => {
    const moments =
      request.method === "GET"
        ? (["before"] as const)
        : target === "table" && request.bodyBytes > 0
          ? (["before", "during", "after"] as const)
          : (["before", "after"] as const);
    return moments.map((moment) => ({ target, n: i + 1, moment }));
  });
}

async function sweep(points: readonly KillPoint[]): Promise<{ point: KillPoint; outcome: TrialOutcome }[]> {
  const results: { point: KillPoint; outcome: TrialOutcome }[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < points.length; i = next++) {
      const point = points[i] as KillPoint;
      results.push({ point, outcome: await runTrial(point) });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return results;
}

function report(target: Target, results: readonly { point: KillPoint; outcome: TrialOutcome }[], ms: number) {
  const kills = results.reduce((sum, r) => sum + r.outcome.kills, 0);
  const repeats = results.reduce((sum, r) => sum + repeatedMessages(r.outcome), 0);
  const reruns = results.reduce((sum, r) => sum + r.outcome.exits.length - 2, 0);
  console.log(
    `crash sweep, ${target}: ${results.length} trials, ${kills} kills, ${reruns} re-runs, ${repeats} repeated Teams messages, ${Math.round(ms / 1000)} s`,
  );
}

describe("the CLI killed at every request of a two-day replay, then run again", () => {
  it("makes the requests the schedule is built from when nothing fails", () => {
    expect(problemsOf(reference)).toEqual([]);
    expect(reference.kills).toBe(0);
    // Day 1: lease (read, create table, create), identities, plan, Sentinel and Teams acknowledgements, record;
    // day 2 the same without creating anything. One PUT per incident, nothing read back; one digest a day.
    expect(reference.requests.arm.map((r) => r.method)).toEqual(Array(reference.incidents.length).fill("PUT"));
    expect(reference.incidents.length).toBeGreaterThan(sampleDay(1).riskyIds.length);
    expect(reference.requests.teams).toHaveLength(2);
    expect(reference.requests.table.length).toBeGreaterThan(8);
  });

  for (const target of ["table", "arm", "teams"] as const) {
    it(`keeps every invariant when killed at each ${target === "table" ? "Table Storage" : target === "arm" ? "Sentinel (ARM)" : "Teams"} request`, async () => {
      const points = killPoints(target);
      const started = Date.now();
      const results = await sweep(points);
      report(target, results, Date.now() - started);

      const failed = results
        .map((r) => ({ at: label(r.point), problems: problemsOf(r.outcome) }))
        .filter((r) => r.problems.length > 0);
      expect(failed).toEqual([]);
      // Every kill point was reached: the schedule matches what the CLI does.
      expect(results.filter((r) => r.outcome.kills !== 1).map((r) => label(r.point))).toEqual([]);
    }, 240_000);
  }
});
