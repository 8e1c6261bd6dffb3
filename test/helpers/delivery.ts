import type { Finding } from "../../src/hunt/finding.js";
import type { DeliveryContext, OwedDelivery } from "../../src/notify/channel.js";
import { storeFinding } from "../../src/state/records.js";
import { finding, spId } from "./findings.js";

export { finding, spId };

export const RUN_DATE = new Date("2026-12-01T06:00:00Z");

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
      resolvedReason: null,
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
