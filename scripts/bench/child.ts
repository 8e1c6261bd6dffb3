/**
 * One measurement in a process of its own, so its peak memory and CPU time are the detector's alone (not the
 * benchmark's, nor Azurite's, which runs in yet another process). Prints its figures as one JSON line.
 * Usage: node child.js day '<DayInput JSON>' | node child.js core SEED
 */
import type { Logger } from "../../src/run.js";
import { measureCore } from "./core.js";
import type { DayInput } from "./scenario.js";
import { runDay } from "./scenario.js";

const log: Logger = { info: () => {}, warn: (m) => console.error(m), error: (m) => console.error(m) };
const [mode, argument = ""] = process.argv.slice(2);
const figures = mode === "core" ? measureCore(Number(argument)) : await runDay(JSON.parse(argument) as DayInput, log);
process.stdout.write(`${JSON.stringify(figures)}\n`);
