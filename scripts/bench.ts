/**
 * Benchmark: whole runs on seeded synthetic hunt results against Azurite, for each size three days (first run,
 * steady day with 1% churn, identical re-run), each day's run in a process of its own. Prints a table (plain and
 * markdown), checks the targets, writes the same figures as JSON, and exits 1 when a target is missed.
 *
 * Run: npm run bench [-- SIZES] [--seed N] [--no-core] [--readme]
 *   SIZES      comma-separated identity counts (default 1000,10000,100000)
 *   --seed     the synthetic data's seed (default 1)
 *   --no-core  skip the pure core at the 500,000-row limit
 *   --readme   also replace the table in README.md (between its bench-begin and bench-end markers)
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { projectRoot } from "../src/paths.js";
import { startAzurite } from "../src/state/azurite.js";
import type { CoreFigures } from "./bench/core.js";
import type { StorageCounts } from "./bench/countingProxy.js";
import { startCountingProxy } from "./bench/countingProxy.js";
import type { DayFigures, DayInput } from "./bench/scenario.js";
import { BENCH_CHANNELS, floorOf, mismatches, requestsOf } from "./bench/scenario.js";
import type { BenchDay } from "./bench/synthetic.js";
import { benchDays, CHURN } from "./bench/synthetic.js";

const TARGET_RATIO = 1.1;
const STEADY_SIZE = 100_000;
const STEADY_MAX_MS = 60_000;
const STEADY_MAX_RSS = 512 * 1024 * 1024;

interface Options {
  sizes: number[];
  seed: number;
  core: boolean;
  readme: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const options: Options = { sizes: [], seed: 1, core: true, readme: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--no-core") options.core = false;
    else if (arg === "--readme") options.readme = true;
    else if (arg === "--seed") options.seed = Number(args[++i]);
    else
      options.sizes.push(
        ...arg.split(",").map((s) => (/^\d[\d_]*$/.test(s) ? Number(s.replace(/_/g, "")) : Number.NaN)),
      );
  }
  if (options.sizes.length === 0) options.sizes = [1000, 10_000, 100_000];
  if (!Number.isSafeInteger(options.seed) || options.sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    console.error("Usage: npm run bench [-- 1000,10000,100000] [--seed N] [--no-core] [--readme]");
    process.exit(2);
  }
  return options;
}

interface Scenario {
  identities: number;
  day: BenchDay["name"];
  expected: BenchDay["expected"];
  storage: StorageCounts;
  deliveries: DayFigures["deliveries"];
  requests: number;
  floor: ReturnType<typeof floorOf>;
  ratio: number;
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  problems: string[];
}

const here = fileURLToPath(new URL(".", import.meta.url));

/** Runs the compiled child with arguments; resolves with the JSON line it printed. */
function child<T>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(here, "bench", "child.js"), ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.once("error", reject);
    proc.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`benchmark child ${args[0]} exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as T);
      } catch (error) {
        reject(new Error(`benchmark child printed no figures: ${(error as Error).message}`));
      }
    });
  });
}

/** Azurite in a process of its own (as startAzurite always runs it), with the 3.36 lookup order preloaded. */
async function startBenchAzurite() {
  const before = process.env.NODE_OPTIONS;
  // startAzurite's child inherits the environment; the detector's children, started later, do not get this.
  process.env.NODE_OPTIONS = `${before ?? ""} --import ${pathToFileURL(join(here, "bench", "azuriteLookup.js")).href}`;
  try {
    return await startAzurite(undefined);
  } finally {
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
  }
}

async function runSize(identities: number, seed: number, dir: string): Promise<Scenario[]> {
  // A fresh Azurite per size: each starts from an empty service, and its memory is not the detector's.
  const azurite = await startBenchAzurite();
  const proxy = await startCountingProxy(azurite.connectionString);
  const scenarios: Scenario[] = [];
  try {
    for (const [i, day] of benchDays(identities, seed).entries()) {
      const replay = join(dir, `hunt-${identities}-${i + 1}.json`);
      writeFileSync(replay, JSON.stringify(day.body()));
      const input: DayInput = {
        connectionString: proxy.connectionString,
        table: "bench",
        replay,
        outbox: join(dir, `outbox-${identities}-${i + 1}`),
        now: day.now.toISOString(),
      };
      proxy.reset();
      const figures = await child<DayFigures>(["day", JSON.stringify(input)]);
      const storage = proxy.counts();
      rmSync(replay);
      const floor = floorOf(day.expected, figures.deliveries.teams, i === 0);
      const requests = requestsOf(storage, figures.deliveries);
      const scenario: Scenario = {
        identities,
        day: day.name,
        expected: day.expected,
        storage,
        deliveries: figures.deliveries,
        requests,
        floor,
        ratio: requests / floor.total,
        wallMs: figures.wallMs,
        cpuMs: figures.cpuMs,
        peakRssBytes: figures.peakRssBytes,
        problems: mismatches(day.expected, figures, storage),
      };
      scenarios.push(scenario);
      console.error(`  ${identities} ${day.name}: ${(figures.wallMs / 1000).toFixed(1)} s`);
    }
  } finally {
    await proxy.stop();
    await azurite.stop();
  }
  return scenarios;
}

const int = (n: number) => n.toLocaleString("en-US");
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const megabytes = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;

const HEADER = [
  "identities",
  "day",
  "wall",
  "CPU",
  "peak RSS",
  "reads",
  "writes",
  "transactions (rows)",
  "Teams / Sentinel",
  "requests",
  "floor",
  "ratio",
];

function cells(s: Scenario): string[] {
  return [
    int(s.identities),
    s.day,
    seconds(s.wallMs),
    seconds(s.cpuMs),
    megabytes(s.peakRssBytes),
    int(s.storage.reads),
    int(s.storage.writes),
    `${int(s.storage.batches)} (${int(s.storage.batchRows)})`,
    `${int(s.deliveries.teams)} / ${int(s.deliveries.sentinel)}`,
    int(s.requests),
    int(s.floor.total),
    s.ratio.toFixed(3),
  ];
}

function plainTable(rows: readonly string[][]): string {
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(HEADER), ...rows.map(line)].join("\n");
}

function markdownTable(rows: readonly string[][]): string {
  const line = (r: readonly string[]) => `| ${r.join(" | ")} |`;
  return [line(HEADER), line(HEADER.map((_, i) => (i < 2 ? "---" : "---:"))), ...rows.map(line)].join("\n");
}

interface Target {
  target: string;
  met: boolean | null;
  detail: string;
}

function targets(scenarios: readonly Scenario[]): Target[] {
  const worst = scenarios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const steady = scenarios.find((s) => s.identities === STEADY_SIZE && s.day === "steady day");
  const reruns = scenarios.filter((s) => s.day === "re-run");
  const problems = scenarios.flatMap((s) => s.problems.map((p) => `${int(s.identities)} ${s.day}: ${p}`));
  const steadyLabel = `${int(STEADY_SIZE)}-identity steady day`;
  const rerunText = (s: Scenario) =>
    `${s.storage.writes} write (the lease take) and ${s.storage.batches} transaction of ${s.storage.batchRows} rows (lease release + run record), ${s.storage.identityRows} identity rows`;
  const rerunTexts = [...new Set(reruns.map(rerunText))];
  return [
    {
      target: `requests ≤ ${TARGET_RATIO} × floor in every scenario`,
      met: worst.ratio <= TARGET_RATIO,
      detail: `highest ${worst.ratio.toFixed(3)} (${int(worst.identities)}, ${worst.day})`,
    },
    {
      target: `${steadyLabel} under ${STEADY_MAX_MS / 1000} s`,
      met: steady ? steady.wallMs < STEADY_MAX_MS : null,
      detail: steady ? seconds(steady.wallMs) : "not run (size not selected)",
    },
    {
      target: `${steadyLabel} under ${megabytes(STEADY_MAX_RSS)} peak RSS`,
      met: steady ? steady.peakRssBytes < STEADY_MAX_RSS : null,
      detail: steady ? megabytes(steady.peakRssBytes) : "not run (size not selected)",
    },
    {
      target: "an identical re-run writes nothing but the run record",
      // The lease take is the one write before it (the guard no run may skip); the run record goes in one
      // transaction with the lease's release. No identity row is written.
      met: reruns.every(
        (s) =>
          s.storage.writes === 1 &&
          s.storage.batches === 1 &&
          s.storage.batchRows === 2 &&
          s.storage.identityRows === 0,
      ),
      detail:
        rerunTexts.length === 1
          ? `${rerunTexts[0]}, at every size`
          : reruns.map((s) => `${int(s.identities)}: ${rerunText(s)}`).join("; "),
    },
    {
      target:
        "every run found, wrote and delivered what its data called for; the detector's own count equals the wire's",
      met: problems.length === 0,
      detail: problems.length === 0 ? "all days" : problems.join("; "),
    },
  ];
}

const mark = (t: Target) => (t.met === null ? "n/a " : t.met ? "PASS" : "FAIL");

function coreLine(core: CoreFigures): string {
  return `Pure core at the service's row limit (${int(core.rows)} rows, no storage): parse ${seconds(core.parseMs)}, diff on empty state ${seconds(core.firstDiffMs)}, diff of the same result on that state ${seconds(core.sameDiffMs)}, peak RSS ${megabytes(core.peakRssBytes)}.`;
}

function replaceReadme(markdown: string): void {
  const path = join(projectRoot(), "README.md");
  const text = readFileSync(path, "utf8");
  const begin = "<!-- bench-begin -->";
  const end = "<!-- bench-end -->";
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no ${begin} ... ${end} region`);
  writeFileSync(path, `${text.slice(0, from + begin.length)}\n${markdown}\n${text.slice(to)}`);
  console.log(`README.md updated between ${begin} and ${end}`);
}

const options = parseArgs(process.argv.slice(2));
const dir = mkdtempSync(join(tmpdir(), "stale-mi-bench-"));
const scenarios: Scenario[] = [];
let core: CoreFigures | undefined;
try {
  for (const size of options.sizes) {
    console.error(`${int(size)} identities...`);
    scenarios.push(...(await runSize(size, options.seed, dir)));
  }
  if (options.core) {
    console.error("pure core at the row limit...");
    core = await child<CoreFigures>(["core", String(options.seed)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows = scenarios.map(cells);
const results = targets(scenarios);
const machine = `${new Date().toISOString().slice(0, 10)}, Node ${process.versions.node}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, in-memory Azurite 3.35 (with 3.36's lookup order) behind a counting proxy, channels ${BENCH_CHANNELS} to an outbox, seed ${options.seed}`;
console.log(`\n${machine}\n`);
console.log(plainTable(rows));
if (core) console.log(`\n${coreLine(core)}`);
console.log("\nTargets:");
for (const t of results) console.log(`  ${mark(t)}  ${t.target}: ${t.detail}`);

const markdown = [
  `\`npm run bench -- ${options.sizes.join(",")} --seed ${options.seed}\`: ${machine}.`,
  "",
  markdownTable(rows),
  "",
  ...(core ? [coreLine(core), ""] : []),
  ...results.map((t) => `- **${mark(t).trim()}** ${t.target}: ${t.detail}.`),
].join("\n");
console.log(`\nMarkdown (README.md, between <!-- bench-begin --> and <!-- bench-end -->):\n\n${markdown}\n`);

const jsonDir = join(projectRoot(), ".local", "bench");
mkdirSync(jsonDir, { recursive: true });
const jsonPath = join(jsonDir, "latest.json");
writeFileSync(
  jsonPath,
  `${JSON.stringify(
    {
      generatedAt: new Date().toISOString(),
      machine,
      seed: options.seed,
      churn: CHURN,
      channels: BENCH_CHANNELS,
      scenarios: scenarios.map((s) => ({ ...s, ratio: Number(s.ratio.toFixed(4)) })),
      ...(core ? { core } : {}),
      targets: results,
    },
    null,
    2,
  )}\n`,
);
console.log(`Figures as JSON: ${jsonPath}`);
if (options.readme) replaceReadme(markdown);
process.exitCode = results.some((t) => t.met === false) ? 1 : 0;
