import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { LOOPBACK_TOKEN } from "../../src/notify/sentinelApi.js";
import type { Peer, PeerAnswer, PeerResponse, RecordedRequest } from "./httpPeer.js";
import { HANG, startPeer } from "./httpPeer.js";

export { HANG };

const GUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

export const API_VERSION = "2025-12-01";
const ROUTE = `/subscriptions/(${GUID})/resourceGroups/([-\\w._()]+)/providers/Microsoft\\.OperationalInsights/workspaces/([-\\w]+)/providers/Microsoft\\.SecurityInsights/incidents/(${GUID})`;
const PATH_ONLY = new RegExp(`^${ROUTE}$`);
/** The one path and query the SecurityInsights incidents API answers on, as documented for api-version 2025-12-01. */
export const INCIDENT_PATH = new RegExp(`^${ROUTE}\\?api-version=${API_VERSION}$`);

export const SEVERITIES = ["High", "Medium", "Low", "Informational"];
export const STATUSES = ["New", "Active", "Closed"];
/** Set by the service; a client that sends them is confused about what it owns. */
export const READ_ONLY_PROPERTIES = [
  "providerName",
  "incidentNumber",
  "incidentUrl",
  "additionalData",
  "relatedAnalyticRuleIds",
  "createdTimeUtc",
  "lastModifiedTimeUtc",
];
/**
 * What a client may set. The real service ignores anything else without a word, which is exactly why the peer
 * refuses it: a misspelt property would otherwise look delivered.
 */
const WRITABLE_PROPERTIES = new Set([
  "title",
  "severity",
  "status",
  "description",
  "labels",
  "firstActivityTimeUtc",
  "lastActivityTimeUtc",
  "owner",
  "classification",
  "classificationComment",
  "classificationReason",
  "providerIncidentId",
]);
export const DESCRIPTION_MAX = 5000;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$/;

export interface StoredIncident {
  id: string;
  name: string;
  etag: string;
  type: string;
  properties: Record<string, unknown>;
}

/**
 * Answers instead of the service for a request that passed every check: a PeerResponse (429, 500...), HANG to
 * never answer, or undefined to let the service answer. `serve` performs the request as the service would (a
 * PUT stores the incident) and returns the answer the client would have had.
 */
export type ArmFault = (
  request: RecordedRequest,
  incidentId: string | undefined,
  serve: () => PeerResponse,
) => PeerAnswer | Promise<PeerAnswer> | undefined;

export interface ArmPeer extends Peer {
  /** The bearer token it accepts. */
  token: string;
  /** Incidents by id, as the workspace holds them. */
  incidents: Map<string, StoredIncident>;
  /** When each request arrived (performance.now()), in order. */
  arrivals: number[];
  /** Every request the peer refused for not speaking the API (path, api-version, token, body), with the reason. */
  violations: string[];
  /** Requests to one method, in order. */
  calls(method: "GET" | "PUT"): RecordedRequest[];
  /** Requests for one incident, as "METHOD" strings in order. */
  methodsFor(incidentId: string): string[];
  fault: ArmFault | undefined;
}

export const armError = (status: number, code: string, message: string): PeerResponse => ({
  status,
  body: { error: { code, message } },
});
/** ARM's throttling answer. */
export const throttled = (retryAfterSeconds: number): PeerResponse => ({
  ...armError(429, "TooManyRequests", "The request was throttled."),
  headers: { "retry-after": String(retryAfterSeconds) },
});
export const serverError = (): PeerResponse => armError(500, "InternalServerError", "An internal error occurred.");

/**
 * An ARM stand-in for Sentinel incidents that checks what it receives: the bearer token (401 otherwise), the
 * documented path and api-version, and the PUT body's schema (400 with an ARM error body otherwise). A valid
 * PUT creates (201) or updates (200), a GET answers 200 or 404.
 */
export async function startArmPeer(options: { token?: string } = {}): Promise<ArmPeer> {
  const token = options.token ?? LOOPBACK_TOKEN;
  const incidents = new Map<string, StoredIncident>();
  const arrivals: number[] = [];
  const violations: string[] = [];
  let armPeer: ArmPeer | undefined;

  const refuse = (request: RecordedRequest, status: number, code: string, message: string): PeerResponse => {
    violations.push(`${request.method} ${request.url}: ${message}`);
    return armError(status, code, message);
  };

  const peer = await startPeer((request) => {
    arrivals.push(performance.now());
    if (request.headers.authorization !== `Bearer ${token}`) {
      const got = request.headers.authorization === undefined ? "none" : "a different one";
      return refuse(request, 401, "AuthenticationFailed", `expected Authorization: Bearer <token>, got ${got}`);
    }
    const url = new URL(request.url, "http://peer");
    const match = PATH_ONLY.exec(url.pathname);
    if (!match) return refuse(request, 400, "BadRequest", `no SecurityInsights incident route at ${url.pathname}`);
    const versions = url.searchParams.getAll("api-version");
    if (versions.length !== 1 || versions[0] !== API_VERSION || [...url.searchParams.keys()].length !== 1) {
      return refuse(request, 400, "InvalidApiVersionParameter", `expected only api-version=${API_VERSION}`);
    }
    if (request.method !== "GET" && request.method !== "PUT") {
      return refuse(request, 405, "MethodNotAllowed", `${request.method} is not supported`);
    }
    const incidentId = (match[4] as string).toLowerCase();
    let body: Record<string, unknown> | undefined;
    if (request.method === "PUT") {
      const problems = putProblems(request);
      if (typeof problems === "string") return refuse(request, 400, "BadRequest", problems);
      body = problems;
    }
    const serve = (): PeerResponse => {
      const existing = incidents.get(incidentId);
      if (!body) {
        return existing
          ? { status: 200, body: existing }
          : armError(404, "NotFound", `Incident ${incidentId} was not found.`);
      }
      if (typeof body.etag === "string" && existing && body.etag !== existing.etag) {
        return armError(409, "Conflict", "The etag does not match the incident's.");
      }
      const incident: StoredIncident = {
        id: url.pathname,
        name: incidentId,
        etag: `"${randomUUID()}"`,
        type: "Microsoft.SecurityInsights/Incidents",
        properties: body.properties as Record<string, unknown>,
      };
      incidents.set(incidentId, incident);
      return { status: existing ? 200 : 201, body: incident };
    };
    return armPeer?.fault?.(request, incidentId, serve) ?? serve();
  });

  armPeer = {
    ...peer,
    token,
    incidents,
    arrivals,
    violations,
    calls: (method) => peer.requests.filter((r) => r.method === method),
    methodsFor: (incidentId) =>
      peer.requests.filter((r) => r.url.toLowerCase().includes(incidentId.toLowerCase())).map((r) => r.method),
    fault: undefined,
  };
  return armPeer;
}

/** The PUT body when it is a valid incident, or what is wrong with it. */
function putProblems(request: RecordedRequest): Record<string, unknown> | string {
  const type = request.headers["content-type"]?.split(";")[0]?.trim();
  if (type !== "application/json") return `content-type must be application/json, got ${type ?? "none"}`;
  let body: unknown;
  try {
    body = JSON.parse(request.body);
  } catch {
    return "the body is not JSON";
  }
  if (!isObject(body)) return "the body must be a JSON object";
  for (const key of Object.keys(body)) {
    if (key !== "properties" && key !== "etag") return `unexpected top-level property ${key}`;
  }
  if (body.etag !== undefined && typeof body.etag !== "string") return "etag must be a string";
  const properties = body.properties;
  if (!isObject(properties)) return "properties must be an object";
  const problems: string[] = [];
  for (const key of Object.keys(properties)) {
    if (READ_ONLY_PROPERTIES.includes(key)) problems.push(`properties.${key} is read-only`);
    else if (!WRITABLE_PROPERTIES.has(key)) problems.push(`properties.${key} is not an incident property`);
  }
  const { title, severity, status, description, labels } = properties;
  if (typeof title !== "string" || title.trim() === "") problems.push("properties.title is required");
  if (typeof severity !== "string" || !SEVERITIES.includes(severity)) {
    problems.push(`properties.severity must be one of ${SEVERITIES.join(", ")}`);
  }
  if (typeof status !== "string" || !STATUSES.includes(status)) {
    problems.push(`properties.status must be one of ${STATUSES.join(", ")}`);
  }
  if (description !== undefined && (typeof description !== "string" || description.length > DESCRIPTION_MAX)) {
    problems.push(`properties.description must be a string of at most ${DESCRIPTION_MAX} characters`);
  }
  if (labels !== undefined) {
    const valid =
      Array.isArray(labels) &&
      labels.every(
        (label) =>
          isObject(label) &&
          typeof label.labelName === "string" &&
          label.labelName !== "" &&
          Object.keys(label).every((k) => k === "labelName"),
      );
    if (!valid) problems.push("properties.labels must be an array of { labelName: string } (labelType is read-only)");
  }
  for (const key of ["firstActivityTimeUtc", "lastActivityTimeUtc"]) {
    const value = properties[key];
    if (
      value !== undefined &&
      (typeof value !== "string" || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value)))
    ) {
      problems.push(`properties.${key} must be an ISO 8601 date-time`);
    }
  }
  return problems.length > 0 ? problems.join("; ") : body;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);
