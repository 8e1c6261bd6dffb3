import { readFileSync } from "node:fs";
import type { HuntParameters } from "../config.js";
import { isIpv4Cidr } from "../config.js";
import { isObjectId } from "../graph/directory.js";

/** The build copies the .kql beside this module, so the same relative path works from src/ and dist/. */
export const HUNT_FILE = new URL("./stale-managed-identities.kql", import.meta.url);

const BEGIN = "// @parameters-begin";
const END = "// @parameters-end";
const PARAMETER_NAMES = ["LookbackDays", "StaleThreshold", "AllowlistedIPRanges", "DirectoryIdentityIds"] as const;

export function loadHuntTemplate(): string {
  return readFileSync(HUNT_FILE, "utf8");
}

/**
 * Replaces the template's parameter block with literals built from validated values. Values are re-checked
 * here because this is the one place where data meets query text: nothing but digits, CIDR ranges and
 * object ids (GUIDs), quoted by JSON rules, can reach the query.
 */
export function renderHunt(template: string, params: HuntParameters, directoryIds: readonly string[] = []): string {
  const begin = template.indexOf(BEGIN);
  const end = template.indexOf(END);
  if (begin < 0 || end < begin) {
    throw new Error(`Hunt template: the parameter block "${BEGIN}" ... "${END}" is missing or out of order`);
  }
  const block = template.slice(begin + BEGIN.length, end);
  const declared = [...block.matchAll(/^\s*let\s+(\w+)\s*=/gm)].map((m) => m[1]);
  const expected = [...PARAMETER_NAMES];
  if (declared.length !== expected.length || !expected.every((name) => declared.includes(name))) {
    throw new Error(
      `Hunt template: the parameter block must declare exactly ${expected.join(", ")}; it declares ${declared.join(", ") || "nothing"}`,
    );
  }
  assertWholeDays("lookbackDays", params.lookbackDays);
  assertWholeDays("staleThresholdDays", params.staleThresholdDays);
  for (const range of params.allowlistedIpRanges) {
    if (!isIpv4Cidr(range)) throw new Error(`Hunt parameters: "${range}" is not an IPv4 CIDR range`);
  }
  for (const id of directoryIds) {
    if (!isObjectId(id)) throw new Error(`Hunt parameters: directory object id ${JSON.stringify(id)} is not a GUID`);
  }
  const literals = [
    `let LookbackDays = ${params.lookbackDays}d;`,
    `let StaleThreshold = ${params.staleThresholdDays}d;`,
    `let AllowlistedIPRanges = dynamic(${JSON.stringify(params.allowlistedIpRanges)});`,
    `let DirectoryIdentityIds = dynamic(${JSON.stringify(directoryIds.map((id) => id.toLowerCase()))});`,
  ];
  return `${template.slice(0, begin + BEGIN.length)}\n${literals.join("\n")}\n${template.slice(end)}`;
}

/** The server clips data to this window, so it must reach back as far as the hunt's own lookback. */
export function huntTimespan(params: HuntParameters): { duration: string } {
  assertWholeDays("lookbackDays", params.lookbackDays);
  return { duration: `P${params.lookbackDays}D` };
}

function assertWholeDays(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`Hunt parameters: ${name} must be a positive whole number of days, got ${value}`);
  }
}
