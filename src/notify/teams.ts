import type { Channel, ChannelReport, DeliveryContext, OwedDelivery } from "./channel.js";
import { outOfTime } from "./channel.js";
import { entraUrl } from "./evidence.js";
import type { TeamsMessage } from "./teamsCard.js";
import { buildTeamsMessages } from "./teamsCard.js";

/** Where a Teams message goes: the Workflows webhook, or the local outbox. */
export interface TeamsTransport {
  /** Names the destination in messages without revealing the webhook URL. */
  readonly description: string;
  post(message: TeamsMessage, context: DeliveryContext): Promise<void>;
}

export class TeamsChannel implements Channel {
  readonly name = "teams" as const;

  constructor(
    private readonly transport: TeamsTransport,
    /** The Sentinel incident of a finding, where one was created, to link from its card. */
    private readonly incidentUrl: (owed: OwedDelivery) => string | undefined = () => undefined,
    /** The portal where analysts open an identity (the cloud's). */
    private readonly entraPortal?: string,
  ) {}

  async deliver(owed: readonly OwedDelivery[], context: DeliveryContext): Promise<ChannelReport> {
    const items = owed.map((o) => ({
      finding: o.finding,
      incidentUrl: this.incidentUrl(o),
      identityUrl: entraUrl(o.finding.servicePrincipalId, this.entraPortal),
    }));
    const report: ChannelReport = { delivered: [], failures: [] };
    const messages = buildTeamsMessages(items, context.now);
    for (const [i, message] of messages.entries()) {
      if (Date.now() >= context.deadline) {
        report.failures.push(outOfTime(messages.length - i, "Teams message"));
        break;
      }
      try {
        await this.transport.post(message, context);
      } catch (error) {
        report.failures.push(
          `Teams message ${message.index} of ${message.total} to ${this.transport.description}: ${(error as Error).message}`,
        );
        continue;
      }
      // Acknowledged per message: a crash loses at most this one acknowledgement, so at most one repeat.
      await context.acknowledge(message.servicePrincipalIds);
      report.delivered.push(...message.servicePrincipalIds);
    }
    return report;
  }
}
