import { existsSync, readFileSync } from "node:fs";

/**
 * The environment as the Functions host would build it locally: local.settings.json's Values fill in what
 * the process environment does not set, so the CLI and `func start` read the same settings.
 */
export function localEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  file = "local.settings.json",
): Record<string, string | undefined> {
  if (!existsSync(file)) return { ...env };
  let values: unknown;
  try {
    values = (JSON.parse(readFileSync(file, "utf8")) as { Values?: unknown }).Values;
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const merged: Record<string, string | undefined> = {};
  if (values && typeof values === "object") {
    for (const [name, value] of Object.entries(values)) if (typeof value === "string") merged[name] = value;
  }
  return { ...merged, ...env };
}
