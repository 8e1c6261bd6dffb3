import type { TokenCredential } from "@azure/identity";
import type { DeliveryContext } from "./channel.js";
import type { RetryPolicy } from "./http.js";
import { HttpError, RateLimiter, send } from "./http.js";
import type { SentinelTransport } from "./sentinel.js";
import { SENTINEL_API_VERSION } from "./sentinelIncident.js";

const ARM_REQUESTS_PER_SECOND = 4;

/** The token a loopback ARM stand-in receives; it proves the header is sent without any Azure sign-in. */
export const LOOPBACK_TOKEN = "loopback-peer-token";
export const LOOPBACK_CREDENTIAL: TokenCredential = {
  getToken: async () => ({ token: LOOPBACK_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/** Creates or updates incidents through the SecurityInsights REST API, with an ARM token from the credential. */
export class SentinelApi implements SentinelTransport {
  readonly description: string;
  private readonly limiter = new RateLimiter(ARM_REQUESTS_PER_SECOND);

  constructor(
    private readonly armEndpoint: string,
    private readonly workspaceResourceId: string,
    private readonly credential: TokenCredential,
    private readonly policy?: RetryPolicy,
  ) {
    this.description = `Sentinel workspace ${workspaceResourceId}`;
  }

  incidentUrl(incidentId: string): string {
    return `${this.armEndpoint}${this.workspaceResourceId}/providers/Microsoft.SecurityInsights/incidents/${incidentId}?api-version=${SENTINEL_API_VERSION}`;
  }

  async exists(incidentId: string, context: DeliveryContext): Promise<boolean> {
    try {
      await this.request("GET", incidentId, undefined, context);
      return true;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return false;
      throw error;
    }
  }

  async putIncident(incidentId: string, body: Record<string, unknown>, context: DeliveryContext): Promise<void> {
    await this.request("PUT", incidentId, JSON.stringify(body), context);
  }

  private async request(
    method: "GET" | "PUT",
    incidentId: string,
    body: string | undefined,
    context: DeliveryContext,
  ): Promise<void> {
    const url = this.incidentUrl(incidentId);
    const headers = { "content-type": "application/json", authorization: `Bearer ${await this.token()}` };
    await send(
      { method, url, display: url, headers, body },
      { deadline: context.deadline, limiter: this.limiter, policy: this.policy },
    );
  }

  private async token(): Promise<string> {
    const scope = `${new URL(this.armEndpoint).origin}/.default`;
    const token = await this.credential.getToken(scope);
    if (!token) throw new Error(`No Azure token for ${scope}: check the identity's credential`);
    return token.token;
  }
}
