/** One row of the hunt, typed. Field order and meaning follow the hunt's output columns. */
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
  /** Columns a detection engineer added to the hunt, kept as evidence under their column names. */
  extra: Record<string, unknown>;
}

export type KustoType = "string" | "long" | "datetime" | "dynamic";

export interface HuntColumn {
  name: string;
  type: KustoType;
  field: Exclude<keyof Finding, "extra">;
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
];

export const isRisky = (finding: Pick<Finding, "riskSignal">): boolean => finding.riskSignal !== "";

/** A finding's identity for the diff: the same identity with another signal is another finding. */
export const fingerprintOf = (finding: Pick<Finding, "servicePrincipalId" | "riskSignal">): string =>
  `${finding.servicePrincipalId.toLowerCase()}|${finding.riskSignal}`;
