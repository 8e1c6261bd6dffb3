import { readFileSync } from "node:fs";
import { LOOPBACK_TOKEN } from "../../src/notify/sentinelApi.js";
import type { Peer, PeerAnswer, RecordedRequest } from "./httpPeer.js";
import { HANG, startPeer } from "./httpPeer.js";

export { HANG };

/** A service principal as Graph v1.0 returns it, with the properties the detector selects. */
export interface GraphServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  accountEnabled: boolean;
  servicePrincipalType: string;
  alternativeNames: string[];
}

export interface GraphPeerOptions {
  /** The tenant's service principals, managed identities and others. */
  servicePrincipals: readonly GraphServicePrincipal[];
  /** Graph pages at most 999 service principals; a smaller page makes paging visible with few identities. */
  pageSize?: number;
}

export interface GraphPeer extends Peer {
  /** Requests that broke a rule of the API as documented; a test expects none. */
  violations: string[];
  /** Answers instead of Graph for a request that passed every check: an error, HANG, or undefined to serve it. */
  fault?: (request: RecordedRequest) => PeerAnswer | undefined;
  /** Requests by kind, for counting. */
  count(kind: "list" | "getByIds"): number;
}

const LIST_PATH = "/v1.0/servicePrincipals";
const GET_BY_IDS_PATH = "/v1.0/directoryObjects/getByIds";
const MAX_PAGE = 999;
const MAX_IDS = 1000;
const MI_FILTER = "servicePrincipalType eq 'ManagedIdentity'";

/** Graph's error body: `{"error":{"code","message","innerError"}}`. */
export function graphError(status: number, code: string, message: string, headers?: Record<string, string>) {
  return {
    status,
    headers,
    body: { error: { code, message, innerError: { date: "2026-12-01T06:00:00", "request-id": "peer" } } },
  };
}

export const forbidden = () =>
  graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
export const throttled = (retryAfterSeconds: number) =>
  graphError(429, "TooManyRequests", "Too many requests.", { "Retry-After": String(retryAfterSeconds) });

/**
 * A loopback Microsoft Graph for the calls the detector makes: the filtered servicePrincipals list, paged with
 * absolute `@odata.nextLink`s, and `directoryObjects/getByIds`. It checks the bearer token, the filter, the page
 * size and the id count as Graph does, and records anything else as a violation.
 */
export async function startGraphPeer(options: GraphPeerOptions): Promise<GraphPeer> {
  const pageSize = Math.min(options.pageSize ?? MAX_PAGE, MAX_PAGE);
  const byId = new Map(options.servicePrincipals.map((sp) => [sp.id.toLowerCase(), sp]));
  const managed = options.servicePrincipals.filter((sp) => sp.servicePrincipalType === "ManagedIdentity");
  const violations: string[] = [];
  const counts = { list: 0, getByIds: 0 };
  let origin = "";

  const refuse = (status: number, code: string, problem: string): PeerAnswer => {
    violations.push(problem);
    return graphError(status, code, problem);
  };

  const peer = await startPeer((request) => {
    if (request.headers.authorization !== `Bearer ${LOOPBACK_TOKEN}`) {
      return refuse(401, "InvalidAuthenticationToken", `${request.method} ${request.url}: no or wrong bearer token`);
    }
    const url = new URL(request.url, "http://graph.local");
    if (request.method === "GET" && url.pathname === LIST_PATH) {
      counts.list++;
      const answer = state.fault?.(request);
      if (answer) return answer;
      if (url.searchParams.get("$filter") !== MI_FILTER) {
        return refuse(400, "Request_UnsupportedQuery", `list without the managed identity filter: ${request.url}`);
      }
      const top = Number(url.searchParams.get("$top") ?? "100");
      if (!Number.isInteger(top) || top < 1 || top > MAX_PAGE) {
        return refuse(400, "Request_BadRequest", `$top must be 1-${MAX_PAGE}, got ${url.searchParams.get("$top")}`);
      }
      const size = Math.min(top, pageSize);
      const skip = Number(url.searchParams.get("$skiptoken") ?? "0");
      const page = managed.slice(skip, skip + size);
      const nextUrl = new URL(`${origin}${request.url}`);
      nextUrl.searchParams.set("$skiptoken", String(skip + size));
      return {
        status: 200,
        body: {
          "@odata.context": `${origin}/v1.0/$metadata#servicePrincipals`,
          ...(skip + size < managed.length ? { "@odata.nextLink": nextUrl.toString() } : {}),
          value: page,
        },
      };
    }
    if (request.method === "POST" && url.pathname === GET_BY_IDS_PATH) {
      counts.getByIds++;
      const answer = state.fault?.(request);
      if (answer) return answer;
      let body: { ids?: unknown; types?: unknown };
      try {
        body = JSON.parse(request.body) as typeof body;
      } catch {
        return refuse(400, "Request_BadRequest", "getByIds body is not JSON");
      }
      if (!Array.isArray(body.ids) || body.ids.length === 0 || body.ids.length > MAX_IDS) {
        return refuse(400, "Request_BadRequest", `getByIds takes 1-${MAX_IDS} ids, got ${describeIds(body.ids)}`);
      }
      if (JSON.stringify(body.types) !== JSON.stringify(["servicePrincipal"])) {
        return refuse(400, "Request_BadRequest", `getByIds types should be ["servicePrincipal"]`);
      }
      const value = body.ids.flatMap((id) => {
        const sp = typeof id === "string" ? byId.get(id.toLowerCase()) : undefined;
        return sp ? [{ "@odata.type": "#microsoft.graph.servicePrincipal", ...sp }] : [];
      });
      return { status: 200, body: { "@odata.context": `${origin}/v1.0/$metadata#directoryObjects`, value } };
    }
    return refuse(404, "Request_ResourceNotFound", `${request.method} ${request.url} is not a call the detector makes`);
  });
  origin = peer.url;
  const state: GraphPeer = {
    ...peer,
    violations,
    count: (kind) => counts[kind],
  };
  return state;
}

const describeIds = (ids: unknown) => (Array.isArray(ids) ? `${ids.length}` : typeof ids);

/** The sample tenant's directory, from the saved Graph answers in samples/directory.json. */
export function sampleServicePrincipals(path: string): GraphServicePrincipal[] {
  const bodies = JSON.parse(readFileSync(path, "utf8")) as { value: GraphServicePrincipal[] }[];
  return bodies.flatMap((b) => b.value);
}

/** A tenant of `count` managed identities with predictable ids, alternating user- and system-assigned. */
export function syntheticTenant(count: number): GraphServicePrincipal[] {
  return Array.from({ length: count }, (_, i) => {
    const explicit = i % 2 === 0;
    const name = `mi-synthetic-${i}`;
    return {
      id: tenantId(i),
      appId: `10000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      displayName: name,
      accountEnabled: i % 50 !== 0,
      servicePrincipalType: "ManagedIdentity",
      alternativeNames: [
        `isExplicit=${explicit ? "True" : "False"}`,
        explicit
          ? `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`
          : `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/Microsoft.Web/sites/${name}`,
      ],
    };
  });
}

export const tenantId = (i: number): string => `20000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
