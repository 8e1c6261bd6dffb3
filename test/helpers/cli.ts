import type { ChildProcess } from "node:child_process";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { projectRoot } from "../../src/paths.js";

/**
 * The built CLI as a child process, for tests that kill it or run two at once. Several test files need the
 * build; they run in parallel workers, and two compilers writing dist/ at once could hand a child a torn
 * file, so the first file to get here builds and the others wait for its stamp.
 */

export const ROOT = projectRoot();
export const CLI = join(ROOT, "dist", "src", "cli.js");

const LOCK = join(ROOT, ".local", "cli-build.lock");
const STAMP = join(ROOT, ".local", "cli-build.stamp");
/** A lock older than this was left by a test run that died while building. */
const STALE_LOCK_MS = 180_000;

export async function buildCli(): Promise<void> {
  const token = inject("testRunId");
  mkdirSync(join(ROOT, ".local"), { recursive: true });
  const built = () => existsSync(STAMP) && readFileSync(STAMP, "utf8") === token;
  for (;;) {
    if (built()) return;
    try {
      mkdirSync(LOCK);
    } catch {
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS)
        rmSync(LOCK, { force: true, recursive: true });
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    try {
      if (built()) return;
      execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], {
        cwd: ROOT,
        stdio: "pipe",
      });
      execFileSync(process.execPath, ["scripts/copy-assets.mjs"], { cwd: ROOT, stdio: "pipe" });
      writeFileSync(STAMP, token);
    } finally {
      rmSync(LOCK, { force: true, recursive: true });
    }
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  child: ChildProcess;
  exit: Promise<Exit>;
}

/**
 * `node dist/src/cli.js ...args` in `cwd` with only `settings` and what Node needs to start: none of the
 * parent's settings leak in (the CLI also reads local.settings.json from its cwd, so give it an empty one).
 */
export function spawnCli(args: readonly string[], settings: Record<string, string>, cwd: string): Spawned {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    ...(process.env.SYSTEMROOT ? { SYSTEMROOT: process.env.SYSTEMROOT } : {}),
    ...settings,
  };
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const exit = new Promise<Exit>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, exit };
}

/** Kills a child that is still running; for afterEach, so a failed test leaves no process behind. */
export function killIfRunning(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}
