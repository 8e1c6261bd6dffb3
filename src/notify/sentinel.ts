import type { Channel, ChannelReport, DeliveryContext, OwedDelivery } from "./channel.js";
import { outOfTime } from "./channel.js";
import { HttpError } from "./http.js";
import type { Severity } from "./sentinelIncident.js";
import { buildIncident, incidentIdFor } from "./sentinelIncident.js";

/** Where an incident goes: the SecurityInsights API, or the local outbox. */
export interface SentinelTransport {
  readonly description: string;
  putIncident(incidentId: string, body: Record<string, unknown>, context: DeliveryContext): Promise<void>;
  /** Whether the incident exists already; transports that cannot tell leave it out. */
  exists?(incidentId: string, context: DeliveryContext): Promise<boolean>;
}

export class SentinelChannel implements Channel {
  readonly name = "sentinel" as const;
  /** A retried incident is looked up before it is sent (below), so a lost acknowledgement costs one GET. */
  readonly acknowledgesLazily = true;

  constructor(
    private readonly transport: SentinelTransport,
    private readonly workspaceResourceId: string,
    private readonly severities: Readonly<Record<string, Severity>>,
    private readonly entraPortal?: string,
  ) {}

  incidentIdOf(owed: OwedDelivery): string {
    return incidentIdFor(this.workspaceResourceId, owed.finding, owed.record.episode);
  }

  async deliver(owed: readonly OwedDelivery[], context: DeliveryContext): Promise<ChannelReport> {
    const report: ChannelReport = { delivered: [], failures: [] };
    // A PUT to a deterministic id is idempotent, so acknowledgements can wait and go in batches.
    let unacknowledged: string[] = [];
    const flush = async () => {
      if (unacknowledged.length === 0) return;
      await context.acknowledge(unacknowledged);
      unacknowledged = [];
    };
    for (const [i, item] of owed.entries()) {
      if (Date.now() >= context.deadline) {
        report.failures.push(outOfTime(owed.length - i, "Sentinel incident"));
        break;
      }
      const incidentId = this.incidentIdOf(item);
      const body = buildIncident(item.finding, {
        severities: this.severities,
        now: context.now,
        entraPortal: this.entraPortal,
      });
      try {
        // A retry may follow a run that created the incident and died before recording it. Re-sending the
        // PUT would reset what an analyst has since changed (status, owner), so an existing one is left alone.
        const created = item.retry && (await this.transport.exists?.(incidentId, context));
        if (!created) await this.transport.putIncident(incidentId, body, context);
      } catch (error) {
        report.failures.push(
          `Sentinel incident ${incidentId} (ServicePrincipalId ${item.finding.servicePrincipalId}) on ${this.transport.description}: ${(error as Error).message}`,
        );
        if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
          // Every other incident would fail the same way: say once what to fix, and keep them all pending.
          report.failures.push(
            `Sentinel refused this identity (HTTP ${error.status}): give it the Microsoft Sentinel Responder role (3e150937-b8fe-4cfb-8069-0eaf05ecd056) on SENTINEL_WORKSPACE_RESOURCE_ID; ${owed.length - i - 1} more incidents left pending`,
          );
          break;
        }
        continue;
      }
      report.delivered.push(item.finding.servicePrincipalId);
      unacknowledged.push(item.finding.servicePrincipalId);
      if (unacknowledged.length >= 100) await flush();
    }
    await flush();
    return report;
  }
}
