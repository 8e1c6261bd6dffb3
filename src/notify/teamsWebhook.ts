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

  /** Removes the URL and every part of it that could identify or authorise the workflow, raw or encoded. */
  private redact(text: string): string {
    const url = new URL(this.url);
    const secrets = [this.url, `${url.origin}${url.pathname}`, url.pathname, url.search.slice(1)];
    for (const value of url.searchParams.values()) secrets.push(value, encodeURIComponent(value));
    return secrets
      .filter((secret) => secret.length >= 4)
      .sort((a, b) => b.length - a.length)
      .reduce((redacted, secret) => redacted.split(secret).join("<redacted>"), text);
  }
}
