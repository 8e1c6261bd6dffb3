/** What Microsoft Graph says of the identity behind a finding (see src/graph/). */
export type DirectoryInfo =
  | {
      status: "found";
      appId: string;
      displayName: string;
      accountEnabled: boolean;
      /** From alternativeNames: isExplicit=True is user-assigned, isExplicit=False system-assigned. */
      kind: "user-assigned" | "system-assigned" | "not a managed identity";
      /** The Azure resource the identity belongs to (its own resource, for a user-assigned one). */
      resourceId: string | null;
    }
  | { status: "deleted" }
  /** Enrichment was on but Graph could not be asked; the reason is in the run's summary. */
  | { status: "not enriched" };

/** One row of the hunt, typed, and what the directory says of it. Fields follow the hunt's output columns. */
export interface Finding {
  servicePrincipalId: string;
  servicePrincipalName: string;
  stalenessCategory: string;
  daysSinceSignin: number;
  /** ISO 8601; null when the identity never signed in inside the lookback. */
  lastSignin: string | null;
  totalSignins: number;
  uniqueResources: number;
  lastResource: string;
  recentChanges: number;
  changeTypes: string[];
  lastChange: string | null;
  changedBy: string[];
  azureOpsCount: number;
  lastAzureOp: string | null;
  azureResources: string[];
  azureOperations: string[];
  /** Empty when the identity is stale but shows no risk signal: tracked, never delivered. */
  riskSignal: string;
  ipAddresses: string[];
  /** Which source found the identity: SignInLogs (stale), AuditLogs (created, never used) or Directory. */
  discoveredBy: string;
  /** Columns a detection engineer added to the hunt, kept as evidence under their column names. */
  extra: Record<string, unknown>;
  /** Absent when enrichment is off. */
  directory?: DirectoryInfo;
}

export type KustoType = "string" | "long" | "datetime" | "dynamic";

export interface HuntColumn {
  name: string;
  type: KustoType;
  field: Exclude<keyof Finding, "extra" | "directory">;
}

/** The hunt's output contract: the .kql analysis test checks the query produces exactly these. */
export const HUNT_COLUMNS: readonly HuntColumn[] = [
  { name: "ServicePrincipalId", type: "string", field: "servicePrincipalId" },
  { name: "ServicePrincipalName", type: "string", field: "servicePrincipalName" },
  { name: "StalenessCategory", type: "string", field: "stalenessCategory" },
  { name: "DaysSinceSignin", type: "long", field: "daysSinceSignin" },
  { name: "LastSignin", type: "datetime", field: "lastSignin" },
  { name: "TotalSignins", type: "long", field: "totalSignins" },
  { name: "UniqueResources", type: "long", field: "uniqueResources" },
  { name: "LastResource", type: "string", field: "lastResource" },
  { name: "RecentChanges", type: "long", field: "recentChanges" },
  { name: "ChangeTypes", type: "dynamic", field: "changeTypes" },
  { name: "LastChange", type: "datetime", field: "lastChange" },
  { name: "ChangedBy", type: "dynamic", field: "changedBy" },
  { name: "AzureOpsCount", type: "long", field: "azureOpsCount" },
  { name: "LastAzureOp", type: "datetime", field: "lastAzureOp" },
  { name: "AzureResources", type: "dynamic", field: "azureResources" },
  { name: "AzureOperations", type: "dynamic", field: "azureOperations" },
  { name: "RiskSignal", type: "string", field: "riskSignal" },
  { name: "IPAddresses", type: "dynamic", field: "ipAddresses" },
  { name: "DiscoveredBy", type: "string", field: "discoveredBy" },
];

export const isRisky = (finding: Pick<Finding, "riskSignal">): boolean => finding.riskSignal !== "";

/** A finding's identity for the diff: the same identity with another signal is another finding. */
export const fingerprintOf = (finding: Pick<Finding, "servicePrincipalId" | "riskSignal">): string =>
  `${finding.servicePrincipalId.toLowerCase()}|${finding.riskSignal}`;
