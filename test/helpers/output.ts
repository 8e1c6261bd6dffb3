import { vi } from "vitest";

export interface CapturedOutput {
  stdout: string;
  stderr: string;
}

/**
 * Collects what the CLI, called in-process, writes to stdout and stderr instead of printing it. Call it in
 * beforeEach; vi.restoreAllMocks() in afterEach puts the real streams back.
 */
export function captureOutput(): CapturedOutput {
  const output: CapturedOutput = { stdout: "", stderr: "" };
  vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string | Uint8Array) => {
    output.stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write);
  vi.spyOn(process.stderr, "write").mockImplementation(((chunk: string | Uint8Array) => {
    output.stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write);
  return output;
}
