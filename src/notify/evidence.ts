import { CLOUDS } from "../config.js";
import type { Finding } from "../hunt/finding.js";
import { plain, plainList } from "./text.js";

/** Human titles for the signals the hunt knows; any other signal is shown by its own name. */
export const SIGNAL_TITLES: Readonly<Record<string, string>> = {
  CredOrRoleChangeOnStaleIdentity: "Credential or role change on a stale identity",
  AzureActivityWithoutSignIn: "Azure activity without a sign-in",
  CreatedAndModifiedButNeverUsed: "Created and modified, but never used",
};

export const signalTitle = (signal: string): string => SIGNAL_TITLES[signal] ?? plain(signal, 80);

export interface EvidenceLine {
  label: string;
  /** Plain text, already bounded; the channel decides how to make it inert for its renderer. */
  value: string;
}

const NAME_MAX = 128;
const VALUE_MAX = 200;
const LIST_ITEMS = 5;

export const displayName = (finding: Finding): string => plain(finding.servicePrincipalName, NAME_MAX) || "(no name)";

/** The facts an analyst needs to judge one finding, in the order they read them. */
export function evidenceLines(finding: Finding): EvidenceLine[] {
  const lines: EvidenceLine[] = [
    { label: "ServicePrincipalId", value: plain(finding.servicePrincipalId, 64) },
    { label: "Signal", value: signalTitle(finding.riskSignal) },
    { label: "Staleness", value: plain(finding.stalenessCategory, 40) },
    {
      label: "Last sign-in",
      value: finding.lastSignin
        ? `${day(finding.lastSignin)} (${finding.daysSinceSignin} days ago), last resource ${plain(finding.lastResource, VALUE_MAX) || "unknown"}`
        : finding.discoveredBy === "Directory"
          ? `none in the ${finding.daysSinceSignin}-day lookback; found only in the directory (created before the logs begin)`
          : `never in the lookback (identity about ${finding.daysSinceSignin} days old)`,
    },
    ...directoryLines(finding),
  ];
  if (finding.recentChanges > 0) {
    lines.push({
      label: "Changes",
      value: `${finding.recentChanges} (last ${day(finding.lastChange)}): ${plainList(finding.changeTypes, LIST_ITEMS, 80)}`,
    });
    lines.push({ label: "Changed by", value: plainList(finding.changedBy, 3, 120) || "unknown" });
  }
  if (finding.azureOpsCount > 0) {
    lines.push({
      label: "Azure operations",
      value: `${finding.azureOpsCount} (last ${day(finding.lastAzureOp)}): ${plainList(finding.azureOperations, LIST_ITEMS, 100)}`,
    });
    lines.push({ label: "Azure resources", value: plainList(finding.azureResources, LIST_ITEMS, 100) });
  }
  if (finding.ipAddresses.length > 0) {
    lines.push({ label: "Sign-in IPs", value: plainList(finding.ipAddresses, LIST_ITEMS, 45) });
  }
  for (const [name, value] of Object.entries(finding.extra).slice(0, 10)) {
    lines.push({
      label: plain(name, 40),
      value: plain(typeof value === "string" ? value : JSON.stringify(value), VALUE_MAX),
    });
  }
  return lines;
}

function directoryLines(finding: Finding): EvidenceLine[] {
  const directory = finding.directory;
  if (!directory) return [];
  if (directory.status !== "found") {
    const value =
      directory.status === "deleted"
        ? "deleted"
        : "not checked: Microsoft Graph could not be asked in this run (see the run summary)";
    return [{ label: "Directory", value }];
  }
  const state = directory.accountEnabled ? "enabled" : "DISABLED (cannot get tokens until re-enabled)";
  const lines: EvidenceLine[] = [
    { label: "Directory", value: `${state}, ${directory.kind}, appId ${plain(directory.appId, 64) || "unknown"}` },
  ];
  if (directory.resourceId) lines.push({ label: "Azure resource", value: plain(directory.resourceId, 400) });
  return lines;
}

function day(iso: string | null): string {
  return iso ? iso.slice(0, 10) : "unknown";
}

/** Deep links an analyst opens from a delivery. */
export function entraUrl(servicePrincipalId: string, portal = CLOUDS.public.entraPortal): string {
  return `${portal}/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/${encodeURIComponent(servicePrincipalId)}`;
}
