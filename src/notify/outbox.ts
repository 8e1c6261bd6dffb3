import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DeliveryContext } from "./channel.js";
import type { SentinelTransport } from "./sentinel.js";
import type { TeamsTransport } from "./teams.js";
import type { TeamsMessage } from "./teamsCard.js";

/**
 * Writes exactly the body each channel would send, one file per Teams message and per Sentinel incident,
 * so a run can be inspected offline. An incident file is named by its id: a re-run overwrites it, as the
 * real PUT updates the same incident.
 */
export class Outbox implements TeamsTransport, SentinelTransport {
  readonly description: string;

  constructor(readonly dir: string) {
    this.description = `outbox ${dir}`;
  }

  async post(message: TeamsMessage, context: DeliveryContext): Promise<void> {
    const stamp = context.now.toISOString().replace(/[:.]/g, "-");
    await this.write(
      "teams",
      `${stamp}-${context.runId.slice(0, 8)}-${message.index}-of-${message.total}.json`,
      message.body,
    );
  }

  async putIncident(incidentId: string, body: Record<string, unknown>): Promise<void> {
    await this.write("sentinel", `${incidentId}.json`, body);
  }

  private async write(channel: string, name: string, body: unknown): Promise<void> {
    const dir = join(this.dir, channel);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, name), `${JSON.stringify(body, null, 2)}\n`);
  }
}
