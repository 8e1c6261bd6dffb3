import type { Finding } from "../../src/hunt/finding.js";

export const spId = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** A complete risky finding, with any field overridden. */
export function finding(overrides: Partial<Finding> = {}): Finding {
  return {
    servicePrincipalId: spId(1),
    servicePrincipalName: "mi-payments-prod-weu",
    stalenessCategory: "Abandoned (180d+)",
    daysSinceSignin: 231,
    lastSignin: "2026-04-14T08:15:00.000Z",
    totalSignins: 412,
    uniqueResources: 3,
    lastResource: "https://vault.azure.net",
    recentChanges: 2,
    changeTypes: ["Add service principal credentials", "Add app role assignment to service principal"],
    lastChange: "2026-11-27T22:41:00.000Z",
    changedBy: ["mallory@contoso.example"],
    azureOpsCount: 4,
    lastAzureOp: "2026-11-28T01:02:00.000Z",
    azureResources: ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod"],
    azureOperations: ["MICROSOFT.KEYVAULT/VAULTS/SECRETS/READ"],
    riskSignal: "CredOrRoleChangeOnStaleIdentity",
    ipAddresses: ["203.0.113.7"],
    discoveredBy: "SignInLogs",
    extra: {},
    ...overrides,
  };
}

/** The identity the notification tests describe: mi-backup-prod, stale since January 2025, as of June 2025. */
export const MI_BACKUP_PROD: Partial<Finding> = {
  servicePrincipalId: "3f2b6c1d-8a4e-4b7f-9c2d-1e5a6b7c8d9e",
  servicePrincipalName: "mi-backup-prod",
  stalenessCategory: "Stale90",
  daysSinceSignin: 127,
  lastSignin: "2025-01-26T08:15:00.000Z",
  lastChange: "2025-05-30T22:41:00.000Z",
  lastAzureOp: "2025-05-31T01:02:00.000Z",
};
