import type { Finding } from "../../src/hunt/finding.js";
import type { DeliveryContext, OwedDelivery } from "../../src/notify/channel.js";
import { storeFinding } from "../../src/state/records.js";

export const RUN_DATE = new Date("2026-12-01T06:00:00Z");

export const spId = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

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
    extra: {},
    ...overrides,
  };
}

/** A finding whose evidence is as large as the channels let it be, so few fit in one Teams message. */
export function bulkyFinding(i: number): Finding {
  const long = (what: string) => `${what}-${i}-${"x".repeat(300)}`;
  return finding({
    servicePrincipalId: spId(i),
    servicePrincipalName: long("mi"),
    changeTypes: Array.from({ length: 5 }, (_, k) => long(`change${k}`)),
    changedBy: Array.from({ length: 3 }, (_, k) => long(`user${k}`)),
    azureOperations: Array.from({ length: 5 }, (_, k) => long(`op${k}`)),
    azureResources: Array.from({ length: 5 }, (_, k) => long(`res${k}`)),
    extra: Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`Extra${k}`, long("value")])),
  });
}

/** A finding owed to the given channels, as the run hands it over. */
export function owed(f: Finding, options: { retry?: boolean; episode?: number } = {}): OwedDelivery {
  return {
    finding: f,
    retry: options.retry ?? false,
    record: {
      servicePrincipalId: f.servicePrincipalId,
      fingerprint: `${f.servicePrincipalId.toLowerCase()}|${f.riskSignal}`,
      riskSignal: f.riskSignal,
      status: "open",
      episode: options.episode ?? 1,
      since: RUN_DATE.toISOString(),
      resolvedAt: null,
      finding: storeFinding(f, RUN_DATE),
      pending: ["sentinel", "teams"],
    },
  };
}

/** A delivery context with a generous deadline that records every acknowledgement. */
export function context(deadlineMs = 60_000): DeliveryContext & { acknowledged: string[][] } {
  const acknowledged: string[][] = [];
  return {
    runId: "00000000-0000-4000-8000-00000000a11d",
    now: RUN_DATE,
    deadline: Date.now() + deadlineMs,
    acknowledge: async (ids) => {
      acknowledged.push([...ids]);
    },
    acknowledged,
  };
}
