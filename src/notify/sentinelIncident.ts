import { createHash } from "node:crypto";
import { CLOUDS } from "../config.js";
import type { Finding } from "../hunt/finding.js";
import { fingerprintOf } from "../hunt/finding.js";
import { displayName, entraUrl, evidenceLines, signalTitle } from "./evidence.js";
import { cut, inert } from "./text.js";

export const SENTINEL_API_VERSION = "2025-12-01";
export const DESCRIPTION_MAX = 5000;
const TITLE_MAX = 250;

export type Severity = "High" | "Medium" | "Low" | "Informational";
export const SEVERITIES: readonly Severity[] = ["High", "Medium", "Low", "Informational"];

export const DEFAULT_SEVERITIES: Readonly<Record<string, Severity>> = {
  CredOrRoleChangeOnStaleIdentity: "High",
  AzureActivityWithoutSignIn: "High",
  CreatedAndModifiedButNeverUsed: "Medium",
};
/** A signal a detection engineer added to the hunt, until they map it. */
export const FALLBACK_SEVERITY: Severity = "Medium";

export const HUNT_LABEL = "StaleManagedIdentityHunt";
export const MITRE_TECHNIQUES = ["T1078.004", "T1098.001"];

/**
 * The same workspace, fingerprint and episode always give the same id, so a retry or a re-run updates the
 * incident it already created instead of opening another. Formatted as an RFC 9562 version 8 UUID.
 */
export function incidentIdFor(workspaceResourceId: string, finding: Finding, episode: number): string {
  const hash = createHash("sha256")
    .update(`${workspaceResourceId.toLowerCase()}|${fingerprintOf(finding)}|${episode}`)
    .digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x80;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function incidentUrlFor(
  workspaceResourceId: string,
  incidentId: string,
  portal = CLOUDS.public.azurePortal,
): string {
  return `${portal}/#asset/Microsoft_Azure_Security_Insights/Incident${workspaceResourceId}/providers/Microsoft.SecurityInsights/Incidents/${incidentId}`;
}

export interface IncidentOptions {
  severities: Readonly<Record<string, Severity>>;
  now: Date;
  /** The cloud's portal for the identity link; the public Entra admin center by default. */
  entraPortal?: string;
}

/** The exact body PUT to the SecurityInsights incidents API for one finding. */
export function buildIncident(finding: Finding, options: IncidentOptions): Record<string, unknown> {
  const times = [finding.lastSignin, finding.lastChange, finding.lastAzureOp]
    .filter((t): t is string => t !== null)
    .sort();
  const fallback = options.now.toISOString();
  return {
    properties: {
      title: cut(
        `Stale managed identity ${inert(displayName(finding), 128)}: ${inert(signalTitle(finding.riskSignal), 80)}`,
        TITLE_MAX,
      ),
      severity: options.severities[finding.riskSignal] ?? FALLBACK_SEVERITY,
      status: "New",
      description: description(finding, options),
      labels: [HUNT_LABEL, inert(finding.riskSignal, 100), ...MITRE_TECHNIQUES].map((labelName) => ({ labelName })),
      firstActivityTimeUtc: times[0] ?? fallback,
      lastActivityTimeUtc: times[times.length - 1] ?? fallback,
    },
  };
}

function description(finding: Finding, options: IncidentOptions): string {
  const name = inert(displayName(finding), 128);
  const head = finding.lastSignin
    ? `Managed identity ${name} has not signed in for ${finding.daysSinceSignin} days, yet shows a risk signal.\n`
    : finding.discoveredBy === "Directory"
      ? `Managed identity ${name} has not signed in during the ${finding.daysSinceSignin}-day lookback (only the directory knows it), yet shows a risk signal.\n`
      : `Managed identity ${name} has never signed in (created about ${finding.daysSinceSignin} days ago), yet shows a risk signal.\n`;
  const guidance = [
    "",
    "What to do:",
    "1. Confirm with the owner of the identity's Azure resource that the change or activity above was expected.",
    "2. If not, remove its role assignments and credentials, and disable or delete the resource's identity.",
    "3. If the identity is no longer needed, delete it: an unused identity with permissions is an open door.",
    `Open in Entra admin center: ${entraUrl(finding.servicePrincipalId, options.entraPortal)}`,
  ].join("\n");
  // The guidance always fits; evidence fills what is left, a whole line at a time.
  let evidence = "";
  for (const line of evidenceLines(finding)) {
    const next = `\n${line.label}: ${inert(line.value, 600)}`;
    // +1 for the newline that joins the evidence to the guidance.
    if (head.length + evidence.length + next.length + 1 + guidance.length > DESCRIPTION_MAX) break;
    evidence += next;
  }
  return `${head}${evidence}\n${guidance}`;
}
