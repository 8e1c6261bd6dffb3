import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ChannelName } from "../../src/config.js";
import type { Finding } from "../../src/hunt/finding.js";
import { fingerprintOf, isRisky } from "../../src/hunt/finding.js";
import { loadHuntTemplate } from "../../src/hunt/query.js";
import type { RunSummary } from "../../src/run.js";
import { runDetection } from "../../src/run.js";
import { REAPPEARANCE_GRACE_MS } from "../../src/state/diff.js";
import { fromIdentityEntity } from "../../src/state/records.js";
import { finding, spId } from "../helpers/findings.js";
import type { ChannelBehaviour, Delivered } from "../helpers/memory.js";
import { MemorySource, MemoryStateStore, RecordingChannel, tableOf } from "../helpers/memory.js";

/**
 * The diff over random sequences of daily results, through the real runDetection with in-memory state,
 * source and channels. Each day is a result (some of five identities, each with one of two signals or none,
 * its id in either case) or a failed run (the hunt fails, its result is unusable, or another run holds the
 * lease), a gap of 1 to 10 days, and what each channel does that day (deliver all, fail all, or half).
 * A last day repeats the last good result with both channels working, so whatever is owed is delivered.
 *
 * The expected episodes come from an independent model of the README's rules: a risky fingerprint starts an
 * episode unless it is already open, or came back within 7 days of being resolved; any other finding only
 * keeps its record. fast-check prints the seed and the shrunk sequence of any failure.
 */

const TEMPLATE = loadHuntTemplate();
const CHANNELS: ChannelName[] = ["sentinel", "teams"];
const SIGNALS = ["", "CredOrRoleChangeOnStaleIdentity", "AzureActivityWithoutSignIn"];
const START = Date.parse("2026-01-01T06:00:00Z");
const DAY_MS = 86_400_000;

type Outcome = "ok" | "huntError" | "badResult" | "leaseHeld";
interface Day {
  outcome: Outcome;
  findings: { identity: number; signal: number; upper: boolean }[];
  gapDays: number;
  channels: Record<ChannelName, ChannelBehaviour>;
}

const dayArbitrary: fc.Arbitrary<Day> = fc.record({
  outcome: fc.constantFrom<Outcome>("ok", "ok", "ok", "ok", "huntError", "badResult", "leaseHeld"),
  findings: fc.uniqueArray(
    fc.record({
      identity: fc.integer({ min: 1, max: 5 }),
      signal: fc.integer({ min: 0, max: 2 }),
      upper: fc.boolean(),
    }),
    { selector: (f) => f.identity, maxLength: 5 },
  ),
  gapDays: fc.integer({ min: 1, max: 10 }),
  channels: fc.record({
    sentinel: fc.constantFrom<ChannelBehaviour>("ok", "ok", "fail", "partial"),
    teams: fc.constantFrom<ChannelBehaviour>("ok", "ok", "fail", "partial"),
  }),
});

const findingsOf = (day: Day): Finding[] =>
  day.findings.map((f) => {
    const id = spId(f.identity);
    return finding({ servicePrincipalId: f.upper ? id.toUpperCase() : id, riskSignal: SIGNALS[f.signal] ?? "" });
  });

/** One episode start the model expects: this identity's fingerprint, numbered as the diff numbers them. */
interface Start {
  id: string;
  fingerprint: string;
  episode: number;
  run: number;
}

/** The README's rules, written out on their own, per identity (lowercased id). */
class Model {
  private readonly state = new Map<
    string,
    { fingerprint: string; open: boolean; resolvedAt: number; episode: number }
  >();
  readonly starts: Start[] = [];
  /** Reappearances within the grace period: tracked again, not re-sent. */
  hidden = 0;

  apply(findings: readonly Finding[], now: number, run: number): void {
    const seen = new Set<string>();
    for (const f of findings) {
      const id = f.servicePrincipalId.toLowerCase();
      seen.add(id);
      const fingerprint = fingerprintOf(f);
      const before = this.state.get(id);
      const open = before?.open && before.fingerprint === fingerprint;
      const hidden =
        before && !before.open && before.fingerprint === fingerprint && now - before.resolvedAt < REAPPEARANCE_GRACE_MS;
      const starts = isRisky(f) && !open && !hidden;
      if (hidden && isRisky(f)) this.hidden++;
      const episode = !before ? 1 : before.episode + (starts ? 1 : 0);
      if (starts) this.starts.push({ id, fingerprint, episode, run });
      this.state.set(id, { fingerprint, open: true, resolvedAt: 0, episode });
    }
    for (const [id, record] of this.state) {
      if (record.open && !seen.has(id)) this.state.set(id, { ...record, open: false, resolvedAt: now });
    }
  }
}

interface Trace {
  days: Day[];
  summaries: RunSummary[];
  delivered: Delivered[];
  starts: Start[];
  hidden: number;
  problems: string[];
}

async function replay(days: readonly Day[]): Promise<Trace> {
  const store = new MemoryStateStore();
  const source = new MemorySource();
  const channels = CHANNELS.map((name) => new RecordingChannel(name));
  const model = new Model();
  const problems: string[] = [];
  const summaries: RunSummary[] = [];
  let clock = START;
  let lastGood: Day | undefined;
  const drain: Day = { outcome: "ok", findings: [], gapDays: 1, channels: { sentinel: "ok", teams: "ok" } };
  const all = [...days, drain];

  for (const [run, given] of all.entries()) {
    const day = given === drain ? { ...drain, findings: lastGood?.findings ?? [] } : given;
    clock += day.gapDays * DAY_MS;
    const findings = findingsOf(day);
    source.next =
      day.outcome === "huntError"
        ? "error"
        : day.outcome === "badResult"
          ? { ...tableOf(findings), columns: tableOf(findings).columns.slice(1) }
          : tableOf(findings);
    if (day.outcome === "leaseHeld")
      store.lease = { holder: "timer-run", expiresAt: new Date(clock + 60_000).toISOString(), etag: 99 };
    for (const channel of channels) {
      channel.behaviour = day.channels[channel.name];
      channel.run = run;
    }
    const before = store.snapshot();
    const deliveredBefore = channels.reduce((n, c) => n + c.delivered.length, 0);

    const summary = await runDetection({
      hunt: {
        template: TEMPLATE,
        parameters: { lookbackDays: 180, staleThresholdDays: 90, allowlistedIpRanges: [] },
      },
      source,
      store,
      channels,
      channelNames: CHANNELS,
      runTimeBudgetMs: 60_000,
      log: { info: () => {}, warn: () => {}, error: () => {} },
      requests: { logAnalytics: () => 0, storage: { reads: 0, writes: 0 } },
      now: () => new Date(clock),
      wallClock: () => clock,
    });
    summaries.push(summary);
    const where = `day ${run + 1} (${day.outcome})`;

    if (day.outcome !== "ok") {
      // A failed run changes nothing and sends nothing.
      if (summary.status !== "failed") problems.push(`${where}: status ${summary.status}, expected failed`);
      if (store.snapshot() !== before) problems.push(`${where}: the identity rows changed`);
      if (channels.reduce((n, c) => n + c.delivered.length, 0) !== deliveredBefore)
        problems.push(`${where}: delivered`);
      if (day.outcome === "leaseHeld") store.lease = undefined;
      continue;
    }
    if (summary.status === "failed") problems.push(`${where}: failed: ${summary.error}`);
    lastGood = day;
    model.apply(findings, clock, run);

    // A finding absent from a successful run is resolved; one present is open with its current fingerprint.
    const present = new Map(findings.map((f) => [f.servicePrincipalId.toLowerCase(), fingerprintOf(f)]));
    for (const entity of store.rows.values()) {
      const record = fromIdentityEntity({ ...entity });
      const id = record.servicePrincipalId.toLowerCase();
      const expected = present.get(id);
      if (expected === undefined && record.status !== "resolved")
        problems.push(`${where}: ${id} absent but ${record.status}`);
      if (expected !== undefined && (record.status !== "open" || record.fingerprint !== expected)) {
        problems.push(`${where}: ${id} present as ${expected} but stored ${record.status} ${record.fingerprint}`);
      }
    }
    for (const id of present.keys()) {
      if (![...store.rows.values()].some((e) => e.ServicePrincipalId.toLowerCase() === id))
        problems.push(`${where}: ${id} has no row`);
    }
  }
  return {
    days: all,
    summaries,
    delivered: channels.flatMap((c) => c.delivered),
    starts: model.starts,
    hidden: model.hidden,
    problems,
  };
}

/** What is wrong with the deliveries of a whole sequence, against the model's episode starts. */
function deliveryProblems(trace: Trace): { problems: string[]; superseded: number } {
  const problems: string[] = [];
  let superseded = 0;
  const key = (c: string, fp: string, ep: number) => `${c} ${fp} episode ${ep}`;
  const seen = new Set<string>();
  for (const d of trace.delivered) {
    const k = key(d.channel, d.fingerprint, d.episode);
    if (d.riskSignal === "") problems.push(`a finding without a risk signal was delivered: ${k}`);
    if (seen.has(k)) problems.push(`delivered twice: ${k}`);
    seen.add(k);
    if (!trace.starts.some((s) => s.fingerprint === d.fingerprint && s.episode === d.episode)) {
      problems.push(`delivered, but no episode started: ${k}`);
    }
  }
  for (const [i, start] of trace.starts.entries()) {
    for (const channel of CHANNELS) {
      if (seen.has(key(channel, start.fingerprint, start.episode))) continue;
      // Left undelivered only when superseded: the identity started another episode (a changed signal, or
      // back after a resolution) before this channel next delivered everything it owed.
      const next = trace.starts.slice(i + 1).find((s) => s.id === start.id);
      const deliveredAll = trace.days
        .slice(start.run, next?.run ?? trace.days.length)
        .some((d) => d.outcome === "ok" && d.channels[channel] === "ok");
      if (!next || deliveredAll) {
        problems.push(
          `never delivered on ${channel}: ${start.fingerprint} episode ${start.episode} (day ${start.run + 1})`,
        );
      } else {
        superseded++;
      }
    }
  }
  return { problems, superseded };
}

describe("the diff over random sequences of daily results (runDetection, in-memory edges)", () => {
  it("delivers each risky fingerprint once per episode per channel, never a non-risky one, resolves what is absent, and a failed run changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(dayArbitrary, { minLength: 1, maxLength: 10 }), async (days) => {
        const trace = await replay(days);
        expect([...trace.problems, ...deliveryProblems(trace).problems]).toEqual([]);
        // Nothing is owed once both channels have worked on the last day.
        expect(trace.summaries.at(-1)?.pending).toBe(0);
      }),
      { numRuns: 300, seed: 20261203 },
    );
  });

  it("reaches every case the rules name: new, escalated, reopened, resolved, hidden by a gap, superseded, failed", async () => {
    // The generator is only worth its runs if it covers the cases; count them over the same seed.
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(dayArbitrary, { minLength: 1, maxLength: 10 }), async (days) => {
        const trace = await replay(days);
        for (const s of trace.summaries) {
          if (s.new) seen.add("new");
          if (s.escalated) seen.add("escalated");
          if (s.reopened) seen.add("reopened");
          if (s.resolved) seen.add("resolved");
          if (s.status === "failed") seen.add("failed");
        }
        if (deliveryProblems(trace).superseded > 0) seen.add("superseded");
        if (trace.hidden > 0) seen.add("hidden");
      }),
      { numRuns: 300, seed: 20261203 },
    );
    expect([...seen].sort()).toEqual(
      ["escalated", "failed", "hidden", "new", "reopened", "resolved", "superseded"].sort(),
    );
  });
});
