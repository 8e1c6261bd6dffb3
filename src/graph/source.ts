import { readFile } from "node:fs/promises";
import type { TokenCredential } from "@azure/identity";
import type { Context, Middleware } from "@microsoft/microsoft-graph-client";
import {
  Client,
  GraphError,
  HTTPMessageHandler,
  RetryHandler,
  RetryHandlerOptions,
} from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import { retryAfterMs } from "../notify/http.js";
import type { DirectoryIdentity } from "./directory.js";
import { DirectoryResponseError, parseServicePrincipals, SERVICE_PRINCIPAL_FIELDS } from "./directory.js";

/** Where the directory's answers come from: Microsoft Graph in production, saved response bodies locally. */
export interface DirectorySource {
  /** Names the source in messages: the Graph endpoint or the replay file. */
  readonly description: string;
  /** Every managed identity in the tenant. */
  listManagedIdentities(deadline: number): Promise<DirectoryIdentity[]>;
  /** The service principals among `ids` (at most GET_BY_IDS_LIMIT) that exist; one not returned is not in the directory. */
  getByIds(ids: readonly string[], deadline: number): Promise<DirectoryIdentity[]>;
}

export class DirectorySourceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DirectorySourceError";
  }
}

/** Graph's limit for ids in one directoryObjects/getByIds call. */
export const GET_BY_IDS_LIMIT = 1000;
/** Graph's largest page for servicePrincipals. */
const PAGE_SIZE = 999;
/** No single Graph call should take this long; a run's deadline may cut it shorter. */
const REQUEST_TIMEOUT_MS = 60_000;
const MAX_RETRIES = 3;

export interface GraphDirectoryOptions {
  /** e.g. https://graph.microsoft.com; the API version is added here. */
  endpoint: string;
  credential: TokenCredential;
  /** Counts each HTTP request as it leaves, retries included, for the run summary. */
  onRequest?: () => void;
}

export class GraphDirectory implements DirectorySource {
  readonly description: string;
  private readonly client: Client;
  private readonly origin: string;
  private readonly base: string;
  private deadline = Number.POSITIVE_INFINITY;

  constructor(options: GraphDirectoryOptions) {
    this.origin = new URL(options.endpoint).origin;
    this.base = `${options.endpoint.replace(/\/+$/, "")}/v1.0`;
    this.description = `Microsoft Graph (${this.origin})`;
    const authProvider = new TokenCredentialAuthenticationProvider(options.credential, {
      // The token's audience follows the endpoint's cloud (public, US Gov, China).
      scopes: [`${this.origin}/.default`],
    });
    const middleware: Middleware[] = [
      new OriginBoundAuthentication(this.origin, authProvider),
      new RetryHandler(
        new RetryHandlerOptions(1, MAX_RETRIES, (_delay, _attempt, _request, _options, response) =>
          // Graph's Retry-After is honoured only when waiting still leaves time to use the answer.
          // Without a Retry-After the SDK waits about a second.
          fitsBefore(this.deadline, retryAfterMs(response?.headers?.get("Retry-After")) ?? 1000),
        ),
      ),
      new RequestLimits(() => this.deadline, options.onRequest),
      new HTTPMessageHandler(),
    ];
    this.client = Client.initWithMiddleware({
      baseUrl: options.endpoint.replace(/\/+$/, ""),
      defaultVersion: "v1.0",
      middleware,
    });
  }

  async listManagedIdentities(deadline: number): Promise<DirectoryIdentity[]> {
    this.deadline = deadline;
    const identities: DirectoryIdentity[] = [];
    const first = `${this.base}/servicePrincipals?$filter=${encodeURIComponent("servicePrincipalType eq 'ManagedIdentity'")}&$top=${PAGE_SIZE}&$select=${SERVICE_PRINCIPAL_FIELDS.join(",")}`;
    let url: string | undefined = first;
    for (let page = 1; url; page++) {
      const body = await this.call("GET", url, () => this.client.api(this.relative(url as string)).get());
      identities.push(...parseServicePrincipals(body, `GET ${withoutQuery(url)}, page ${page}`));
      const next = (body as { "@odata.nextLink"?: unknown })["@odata.nextLink"];
      url = typeof next === "string" ? next : undefined;
    }
    return identities;
  }

  async getByIds(ids: readonly string[], deadline: number): Promise<DirectoryIdentity[]> {
    if (ids.length > GET_BY_IDS_LIMIT) throw new Error(`BUG: getByIds takes at most ${GET_BY_IDS_LIMIT} ids`);
    this.deadline = deadline;
    const url = `${this.base}/directoryObjects/getByIds`;
    const body = await this.call("POST", url, () =>
      this.client.api("/directoryObjects/getByIds").post({ ids, types: ["servicePrincipal"] }),
    );
    return parseServicePrincipals(body, `POST ${url}`);
  }

  /**
   * The SDK builds URLs itself and reads only https links as absolute, so a next link is passed on as a path
   * under the endpoint. A link to another host is refused: the token must never leave the Graph endpoint.
   */
  private relative(url: string): string {
    const target = new URL(url);
    if (target.origin !== this.origin || !target.pathname.startsWith("/v1.0/")) {
      throw new DirectorySourceError(
        `Microsoft Graph returned a next link outside ${this.base} (${target.origin}${target.pathname}); not followed`,
      );
    }
    return `${target.pathname.slice("/v1.0".length)}${target.search}`;
  }

  private async call(method: string, url: string, request: () => Promise<unknown>): Promise<unknown> {
    const where = `${method} ${withoutQuery(url)}`;
    try {
      return await request();
    } catch (error) {
      if (error instanceof DirectorySourceError || error instanceof DirectoryResponseError) throw error;
      throw new DirectorySourceError(`Microsoft Graph ${where} failed: ${describeGraphError(error)}`, {
        cause: error,
      });
    }
  }
}

/** What to tell an operator for each way Graph fails; a 403 names the permission to grant. */
export function describeGraphError(error: unknown): string {
  if (error instanceof GraphError) {
    const code = error.code ? ` ${error.code}` : "";
    if (error.statusCode === 403 || error.statusCode === 401) {
      return `${error.statusCode}${code}: the identity lacks the Application.Read.All application permission on Microsoft Graph; grant it with infra/grant-graph-permissions.sh`;
    }
    if (error.statusCode === 429) return `429${code}: throttled beyond the retries that fit in the run`;
    if (error.statusCode > 0) return `${error.statusCode}${code}${error.message ? `: ${error.message}` : ""}`;
    // The SDK wraps network failures and aborts in a GraphError with no status, the cause's name as its code.
    if (error.code === "TimeoutError" || error.code === "AbortError") return "no answer before the run's deadline";
    return error.message || "no response";
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  if ((error as Error).name === "AbortError" || (error as Error).name === "TimeoutError") {
    return "no answer before the run's deadline";
  }
  return cause?.code ?? (error as Error).message;
}

const withoutQuery = (url: string): string => url.replace(/\?.*$/, "");

function fitsBefore(deadline: number, waitMs: number): boolean {
  // Leave the request itself a moment after the wait.
  return Date.now() + waitMs + 1000 < deadline;
}

/**
 * The SDK's AuthenticationHandler adds a token only for https URLs of Graph's public hosts. This adds it for
 * exactly the configured endpoint (a sovereign cloud, a proxy, or a loopback stand-in in tests) and nowhere else.
 */
class OriginBoundAuthentication implements Middleware {
  private nextMiddleware: Middleware | undefined;

  constructor(
    private readonly origin: string,
    private readonly authProvider: TokenCredentialAuthenticationProvider,
  ) {}

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === "string" ? context.request : context.request.url;
    if (new URL(url).origin !== this.origin) {
      throw new DirectorySourceError(`refusing to send a Graph token to ${new URL(url).origin}`);
    }
    const token = await this.authProvider.getAccessToken();
    const headers = new Headers(context.options?.headers as ConstructorParameters<typeof Headers>[0]);
    headers.set("Authorization", `Bearer ${token}`);
    context.options = { ...context.options, headers: Object.fromEntries(headers.entries()) };
    return this.nextMiddleware?.execute(context);
  }

  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }
}

/** Counts every request that leaves (each retry too) and cuts it off at the run's deadline. */
class RequestLimits implements Middleware {
  private nextMiddleware: Middleware | undefined;

  constructor(
    private readonly deadline: () => number,
    private readonly onRequest: (() => void) | undefined,
  ) {}

  async execute(context: Context): Promise<void> {
    const remaining = this.deadline() - Date.now();
    if (remaining <= 0) throw new DirectorySourceError("no time left in the run for Microsoft Graph");
    this.onRequest?.();
    context.options = {
      ...context.options,
      signal: AbortSignal.timeout(Math.min(remaining, REQUEST_TIMEOUT_MS)),
      // Graph answers these calls directly; a redirect could only lead the token somewhere else.
      redirect: "error",
    };
    return this.nextMiddleware?.execute(context);
  }

  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }
}

/**
 * Saved Graph response bodies stand in for the directory: list pages of servicePrincipals and getByIds
 * answers, one body or an array of them, exactly as Graph sent them.
 */
export class ReplayDirectory implements DirectorySource {
  readonly description: string;
  private identities: Promise<Map<string, DirectoryIdentity>> | undefined;

  constructor(private readonly file: string) {
    this.description = `directory replay file ${file}`;
  }

  async listManagedIdentities(): Promise<DirectoryIdentity[]> {
    return [...(await this.load()).values()].filter((i) => i.servicePrincipalType === "ManagedIdentity");
  }

  async getByIds(ids: readonly string[]): Promise<DirectoryIdentity[]> {
    const all = await this.load();
    return ids.flatMap((id) => all.get(id.toLowerCase()) ?? []);
  }

  private load(): Promise<Map<string, DirectoryIdentity>> {
    this.identities ??= (async () => {
      let bodies: unknown;
      try {
        bodies = JSON.parse(await readFile(this.file, "utf8"));
      } catch (error) {
        throw new DirectorySourceError(`Cannot read ${this.description}: ${(error as Error).message}`);
      }
      const list = Array.isArray(bodies) ? bodies : [bodies];
      const byId = new Map<string, DirectoryIdentity>();
      list.forEach((body, index) => {
        for (const identity of parseServicePrincipals(body, `${this.description}, body ${index + 1}`)) {
          byId.set(identity.id, identity);
        }
      });
      return byId;
    })();
    return this.identities;
  }
}
