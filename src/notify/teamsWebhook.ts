import type { DeliveryContext } from "./channel.js";
import type { RetryPolicy } from "./http.js";
import { RateLimiter, send } from "./http.js";
import type { TeamsTransport } from "./teams.js";
import type { TeamsMessage } from "./teamsCard.js";

/** Teams throttles a webhook above 4 requests per second. */
const TEAMS_REQUESTS_PER_SECOND = 4;

/**
 * Posts to a Teams Workflows webhook. The URL carries its own signature, so it is a secret: errors name the
 * setting, never the URL, and anything the network stack echoes is scrubbed of it.
 */
export class TeamsWebhook implements TeamsTransport {
  readonly description = "the Teams webhook (TEAMS_WEBHOOK_URL)";
  private readonly limiter = new RateLimiter(TEAMS_REQUESTS_PER_SECOND);

  constructor(
    private readonly url: string,
    private readonly policy?: RetryPolicy,
  ) {}

  async post(message: TeamsMessage, context: DeliveryContext): Promise<void> {
    await send(
      {
        method: "POST",
        url: this.url,
        display: this.description,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(message.body),
      },
      { deadline: context.deadline, limiter: this.limiter, policy: this.policy, redact: (text) => this.redact(text) },
    );
  }

  private redact(text: string): string {
    const url = new URL(this.url);
    return text
      .split(this.url)
      .join("<TEAMS_WEBHOOK_URL>")
      .split(`${url.origin}${url.pathname}`)
      .join("<TEAMS_WEBHOOK_URL>")
      .split(url.search || "\u0000")
      .join("");
  }
}
