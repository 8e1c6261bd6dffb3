import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Peer, PeerResponse, RecordedRequest } from "./httpPeer.js";
import { startPeer } from "./httpPeer.js";

/** The one path the SecurityInsights incidents API answers on, as documented for api-version 2025-12-01. */
export const INCIDENT_PATH =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.OperationalInsights\/workspaces\/([^/]+)\/providers\/Microsoft\.SecurityInsights\/incidents\/([^/?]+)\?api-version=2025-12-01$/;

export interface StoredIncident {
  id: string;
  name: string;
  etag: string;
  type: string;
  properties: Record<string, unknown>;
}

export interface ArmPeer extends Peer {
  /** Incidents by id, as the workspace holds them. */
  incidents: Map<string, StoredIncident>;
  /** When each request arrived (performance.now()), in order. */
  arrivals: number[];
  /** Requests to one method, in order. */
  calls(method: "GET" | "PUT"): RecordedRequest[];
  /** Answers instead of the service while it returns a response; undefined lets the service answer. */
  fault: ((request: RecordedRequest, incidentId: string | undefined) => PeerResponse | undefined) | undefined;
}

/** An ARM stand-in for Sentinel incidents: PUT creates (201) or updates (200), GET answers 200 or 404. */
export async function startArmPeer(): Promise<ArmPeer> {
  const incidents = new Map<string, StoredIncident>();
  const arrivals: number[] = [];
  let armPeer: ArmPeer | undefined;

  const peer = await startPeer((request) => {
    arrivals.push(performance.now());
    const match = INCIDENT_PATH.exec(request.url);
    const incidentId = match?.[4];
    const injected = armPeer?.fault?.(request, incidentId);
    if (injected) return injected;
    if (!match || !incidentId) {
      return {
        status: 400,
        body: { error: { code: "InvalidResourceType", message: `No route for ${request.method} ${request.url}` } },
      };
    }
    const resourceId = request.url.slice(0, request.url.indexOf("?"));
    if (request.method === "GET") {
      const incident = incidents.get(incidentId);
      if (!incident) {
        return {
          status: 404,
          body: { error: { code: "NotFound", message: `Incident ${incidentId} was not found.` } },
        };
      }
      return { status: 200, body: incident };
    }
    if (request.method === "PUT") {
      const body = JSON.parse(request.body) as { properties?: Record<string, unknown> };
      const existed = incidents.has(incidentId);
      const incident: StoredIncident = {
        id: resourceId,
        name: incidentId,
        etag: `"${randomUUID()}"`,
        type: "Microsoft.SecurityInsights/Incidents",
        properties: body.properties ?? {},
      };
      incidents.set(incidentId, incident);
      return { status: existed ? 200 : 201, body: incident };
    }
    return { status: 405, body: { error: { code: "MethodNotAllowed", message: request.method } } };
  });

  armPeer = {
    ...peer,
    incidents,
    arrivals,
    calls: (method) => peer.requests.filter((r) => r.method === method),
    fault: undefined,
  };
  return armPeer;
}
