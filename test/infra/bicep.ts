import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Where scripts/bicep-cli.sh puts the CLI; keep the version in step with that script. */
const LOCAL_CLI = join(".local", "bicep", "packages", "azure.bicep.commandline.linux-x64", "0.49.2", "tools", "bicep");

/** The Bicep CLI: $BICEP_CLI, else the copy scripts/bicep-cli.sh installs, else `bicep` on PATH. */
export function findBicep(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BICEP_CLI) return existsSync(env.BICEP_CLI) ? env.BICEP_CLI : undefined;
  if (existsSync(LOCAL_CLI)) return LOCAL_CLI;
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, "bicep");
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

export const SKIP_REASON =
  "infra tests skipped: no Bicep CLI (set BICEP_CLI, put bicep on PATH, or run scripts/bicep-cli.sh, as .ci/run does)";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runBicep(cli: string, args: readonly string[]): CliResult {
  const result = spawnSync(cli, args, {
    encoding: "utf8",
    // The CLI is a .NET app: no telemetry, and no attempt to reach the network for anything.
    env: { ...process.env, BICEP_TRACING_ENABLED: "false", DOTNET_CLI_TELEMETRY_OPTOUT: "1" },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Compiles a .bicep file to its ARM JSON. */
export function compile(cli: string, file: string): ArmTemplate {
  return JSON.parse(execFileSync(cli, ["build", file, "--stdout"], { encoding: "utf8", timeout: 120_000 }));
}

export interface ArmResource {
  type: string;
  apiVersion: string;
  name: string;
  condition?: string;
  scope?: string;
  kind?: string;
  location?: string;
  sku?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  subscriptionId?: string;
  resourceGroup?: string;
  dependsOn?: string[];
  properties: Record<string, unknown> & {
    template?: ArmTemplate;
    parameters?: Record<string, { value: unknown }>;
  };
}

export interface ArmTemplate {
  parameters: Record<string, { type: string; defaultValue?: unknown; allowedValues?: unknown[] }>;
  variables: Record<string, unknown>;
  resources: ArmResource[];
  outputs?: Record<string, { type: string; value: unknown }>;
}

/**
 * Replaces `variables('name').key` and `variables('name')` by their literal values where those are plain strings,
 * so that a test can read role ids and names from expressions such as
 * `[subscriptionResourceId('...', variables('roles').storageBlobDataOwner)]`.
 */
export function inlineVariables(template: ArmTemplate, expression: string): string {
  return expression.replace(/variables\('(\w+)'\)(?:\.(\w+))?/g, (whole, name: string, key?: string) => {
    const value = template.variables[name];
    const picked = key === undefined ? value : (value as Record<string, unknown> | undefined)?.[key];
    return typeof picked === "string" ? `'${picked}'` : whole;
  });
}
