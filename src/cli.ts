#!/usr/bin/env node
import { existsSync, realpathSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runOnce } from "./app.js";
import type { Config, ConfigContext, StateTarget } from "./config.js";
import { ConfigError, loadConfig } from "./config.js";
import { loadHuntTemplate, renderHunt } from "./hunt/query.js";
import { writeTeamsPreview } from "./notify/preview.js";
import { projectRoot } from "./paths.js";
import type { Logger, RunSummary } from "./run.js";
import { localEnvironment } from "./settings.js";
import { startAzurite } from "./state/azurite.js";
import { EXIT, exitCodeOf, summaryJson, summaryTable } from "./summary.js";

const USAGE = `Usage:
  stale-mi run [--replay FILE [--directory FILE]] [--state DIR | --state-connection STRING] [--outbox DIR]
               [--json] [--now ISO]
  stale-mi query --print
  stale-mi preview [--outbox DIR]
  stale-mi demo [--dir DIR]
  stale-mi help

run      One detection run: hunt (Log Analytics, or --replay FILE), diff against the state, deliver what is new.
         --state DIR keeps state in a local Azurite (started and stopped here) with its data in DIR;
         --state-connection uses a Table Storage connection string. Without either, the STATE_* settings,
         or else --state .local/state. --directory FILE replays saved Microsoft Graph response bodies
         instead of asking Graph (and turns GRAPH_ENRICHMENT on unless it is off).
         --outbox DIR writes each delivery under DIR/teams and DIR/sentinel
         instead of sending. --now ISO sets the run's clock (for replays of another day).
query    --print writes the exact query text a run would send, for the current settings.
preview  Renders every Teams message in the outbox (default .local/outbox) to DIR/teams-preview.html.
demo     Two days of the bundled sample end to end, no Azure needed (what \`npm start\` runs).

Exit codes: 0 done, 1 run failed (the next run retries what it left), 2 bad usage or settings, 3 done but
deliveries pending.
Settings come from the environment and local.settings.json (Values); see README.md.`;

class UsageError extends Error {}

const stderrLog: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warning: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "run":
        return await runCommand(rest);
      case "query":
        return queryCommand(rest);
      case "demo":
        return await demoCommand(rest);
      case "preview":
        return previewCommand(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? EXIT.usage : EXIT.done;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`stale-mi: ${(error as Error).message}\n\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`stale-mi: ${error.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`stale-mi: ${(error as Error).message}\n`);
    return EXIT.failed;
  }
}

function settings(context: ConfigContext, overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...localEnvironment(), ...overrides }, context);
}

async function runCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      replay: { type: "string" },
      directory: { type: "string" },
      state: { type: "string" },
      "state-connection": { type: "string" },
      outbox: { type: "string" },
      json: { type: "boolean", default: false },
      now: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.state !== undefined && values["state-connection"] !== undefined) {
    throw new UsageError("give --state DIR or --state-connection STRING, not both");
  }
  const now = values.now === undefined ? undefined : parseNow(values.now);
  const config = settings({
    replay: values.replay !== undefined,
    outbox: values.outbox !== undefined,
    directory: values.directory !== undefined,
  });
  if (values.directory !== undefined && !config.graphEnrichment) {
    stderrLog.warn("--directory is ignored: GRAPH_ENRICHMENT is off");
  }
  let state: StateTarget | undefined;
  if (values.state !== undefined) state = { kind: "azurite", dir: resolve(values.state) };
  else if (values["state-connection"] !== undefined) {
    state = { kind: "connection", connectionString: values["state-connection"] };
  } else if (!config.state) {
    state = { kind: "azurite", dir: resolve(".local/state") };
    if (!values.json) stderrLog.info("No state settings: keeping state in a local Azurite under .local/state");
  }
  if (values.outbox !== undefined && (state ?? config.state)?.kind === "endpoint") {
    stderrLog.warn(
      "--outbox with the Azure state table: what lands in the outbox counts as delivered there, and will not be sent by the timer",
    );
  }
  const summary = await runOnce(
    config,
    {
      replay: values.replay,
      directory: values.directory,
      outbox: values.outbox,
      state,
      now,
    },
    stderrLog,
  );
  if (values.json) process.stdout.write(`${JSON.stringify(summaryJson(summary))}\n`);
  else printHuman([{ label: (now ?? new Date()).toISOString().slice(0, 10), summary }]);
  return exitCodeOf(summary);
}

function queryCommand(args: readonly string[]): number {
  const { values } = parseArgs({ args: [...args], options: { print: { type: "boolean" } }, strict: true });
  if (!values.print) throw new UsageError("query needs --print");
  // Only the hunt parameters matter here, so nothing else is required to be set.
  const config = settings({ replay: true, outbox: true });
  process.stdout.write(renderHunt(loadHuntTemplate(), config.hunt));
  return EXIT.done;
}

/** The bundled sample's two days; the sample's oldest sign-ins are ~300 days back, so it reads a year. */
const DEMO_DIRECTORY = "directory.json";
const DEMO_DAYS = [
  { file: "day-1.json", now: "2026-12-01T06:00:00Z" },
  { file: "day-2.json", now: "2026-12-02T06:00:00Z" },
];

async function demoCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { dir: { type: "string" } }, strict: true });
  const dir = resolve(values.dir ?? ".local");
  const stateDir = join(dir, "demo-state");
  const outbox = join(dir, "outbox");
  // A demo starts from nothing each time, so day two always shows the same diff.
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(outbox, { recursive: true, force: true });
  const config = settings(
    { replay: true, outbox: true, directory: true },
    { NOTIFY_CHANNELS: "teams,sentinel", HUNT_LOOKBACK_DAYS: "365", STATE_TABLE_NAME: "StaleManagedIdentities" },
  );
  stderrLog.info(
    `Demo: two days of samples/ through the whole run; state in Azurite (${stateDir}), deliveries in ${outbox}`,
  );
  const azurite = await startAzurite(stateDir);
  const rows: { label: string; summary: RunSummary }[] = [];
  try {
    const state: StateTarget = { kind: "connection", connectionString: azurite.connectionString };
    for (const day of DEMO_DAYS) {
      const summary = await runOnce(
        config,
        {
          replay: join(projectRoot(), "samples", day.file),
          directory: join(projectRoot(), "samples", DEMO_DIRECTORY),
          outbox,
          state,
          now: new Date(day.now),
        },
        stderrLog,
      );
      rows.push({ label: day.now.slice(0, 10), summary });
      if (summary.status === "failed") break;
    }
  } finally {
    await azurite.stop();
  }
  printHuman(rows);
  process.stdout.write(`\nDeliveries: ${outbox}/teams (Teams messages) and ${outbox}/sentinel (incidents)\n`);
  const preview = writeTeamsPreview(outbox);
  if (preview) process.stdout.write(`Teams preview: ${preview.page} (open it in a browser)\n`);
  const codes = rows.map((r) => exitCodeOf(r.summary));
  return codes.includes(EXIT.failed) ? EXIT.failed : codes.includes(EXIT.pending) ? EXIT.pending : EXIT.done;
}

function previewCommand(args: readonly string[]): number {
  const { values } = parseArgs({ args: [...args], options: { outbox: { type: "string" } }, strict: true });
  const outbox = resolve(values.outbox ?? ".local/outbox");
  const preview = writeTeamsPreview(outbox);
  if (!preview) {
    process.stderr.write(
      `stale-mi: no Teams messages in ${join(outbox, "teams")}; run with --outbox ${outbox} first\n`,
    );
    return EXIT.failed;
  }
  process.stdout.write(`${preview.page} (${preview.cards} Teams message${preview.cards === 1 ? "" : "s"})\n`);
  return EXIT.done;
}

function printHuman(rows: readonly { label: string; summary: RunSummary }[]): void {
  process.stdout.write(`${summaryTable(rows)}\n`);
  for (const { label, summary } of rows) {
    const d = summary.directory;
    if (d) {
      const inventory = d.inventory === null ? "inventory unavailable" : `${d.inventory} managed identities listed`;
      process.stdout.write(
        `  ${label} directory: ${inventory}, ${d.directoryOnly} found only by the directory, ${d.deleted} deleted (resolved, not sent), ${d.disabled} disabled, ${d.notEnriched} not enriched\n`,
      );
      if (d.error) process.stdout.write(`  ${label} directory: ${d.error}\n`);
    }
    for (const failure of summary.failures) process.stdout.write(`  pending: ${failure}\n`);
    if (summary.error) process.stdout.write(`  failed: ${summary.error}\n`);
  }
}

function parseNow(value: string): Date {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new UsageError(`--now: expected an ISO 8601 time, got "${value}"`);
  return new Date(time);
}

// Run only as a program (node dist/src/cli.js, or the stale-mi link to it), not when a test imports main().
const script = process.argv[1];
if (script !== undefined && existsSync(script) && realpathSync(script) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
