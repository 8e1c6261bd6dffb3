import type { DirectoryInfo, Finding } from "../hunt/finding.js";

/** One service principal as the detector needs it, read from a Microsoft Graph response body. */
export interface DirectoryIdentity {
  id: string;
  appId: string;
  displayName: string;
  accountEnabled: boolean;
  servicePrincipalType: string;
  kind: Extract<DirectoryInfo, { status: "found" }>["kind"];
  resourceId: string | null;
}

/** The properties asked for; `alternativeNames` carries the managed identity's kind and Azure resource. */
export const SERVICE_PRINCIPAL_FIELDS = [
  "id",
  "appId",
  "displayName",
  "accountEnabled",
  "servicePrincipalType",
  "alternativeNames",
] as const;

export class DirectoryResponseError extends Error {
  constructor(source: string, problem: string) {
    super(`Microsoft Graph's answer from ${source} is not usable: ${problem}`);
    this.name = "DirectoryResponseError";
  }
}

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isObjectId = (value: string): boolean => OBJECT_ID.test(value);

/**
 * The identities in one Graph collection body (`{ "value": [...] }`), from a list page or getByIds. All or
 * nothing: an object without a usable id would otherwise read as "deleted" and resolve a live finding.
 */
export function parseServicePrincipals(body: unknown, source: string): DirectoryIdentity[] {
  const value = (body as { value?: unknown } | null)?.value;
  if (!Array.isArray(value)) throw new DirectoryResponseError(source, 'expected an object with a "value" array');
  return value.map((item, index) => parseServicePrincipal(item, `${source}, item ${index + 1}`));
}

function parseServicePrincipal(item: unknown, source: string): DirectoryIdentity {
  if (typeof item !== "object" || item === null) throw new DirectoryResponseError(source, "not an object");
  const raw = item as Record<string, unknown>;
  const id = typeof raw.id === "string" ? raw.id.trim() : "";
  if (!isObjectId(id)) throw new DirectoryResponseError(source, `id ${JSON.stringify(raw.id)} is not an object id`);
  const type = raw["@odata.type"];
  if (type !== undefined && type !== "#microsoft.graph.servicePrincipal") {
    throw new DirectoryResponseError(`${source} (id ${id})`, `a ${String(type)}, not a service principal`);
  }
  const names = Array.isArray(raw.alternativeNames)
    ? raw.alternativeNames.filter((n): n is string => typeof n === "string")
    : [];
  const servicePrincipalType = typeof raw.servicePrincipalType === "string" ? raw.servicePrincipalType : "";
  return {
    id: id.toLowerCase(),
    appId: typeof raw.appId === "string" ? raw.appId : "",
    displayName: typeof raw.displayName === "string" ? raw.displayName : "",
    // Absent means enabled: Graph omits the property only when the caller did not ask for it.
    accountEnabled: raw.accountEnabled !== false,
    servicePrincipalType,
    ...kindOf(servicePrincipalType, names),
  };
}

/** `isExplicit=True` marks a user-assigned identity; the ARM resource id is the name that starts with a slash. */
export function kindOf(
  servicePrincipalType: string,
  alternativeNames: readonly string[],
): Pick<DirectoryIdentity, "kind" | "resourceId"> {
  const resourceId = alternativeNames.find((n) => n.startsWith("/subscriptions/")) ?? null;
  if (servicePrincipalType !== "ManagedIdentity") return { kind: "not a managed identity", resourceId };
  const explicit = alternativeNames.find((n) => /^isExplicit=/i.test(n));
  const kind = explicit && /=true$/i.test(explicit) ? "user-assigned" : "system-assigned";
  return { kind, resourceId };
}

/** What Graph told this run: the identities it returned, and the ids it was asked about by id. */
export interface DirectoryView {
  found: ReadonlyMap<string, DirectoryIdentity>;
  /** Ids sent to getByIds that Graph answered for: one it did not return is not in the directory. */
  asked: ReadonlySet<string>;
}

/**
 * Adds what the directory says to each finding. An id Graph was asked about and did not return is deleted;
 * one it was never asked about (Graph failed, or the id is not an object id) is marked not enriched.
 */
export function enrichFindings(findings: readonly Finding[], view: DirectoryView | undefined): Finding[] {
  return findings.map((finding) => {
    const key = finding.servicePrincipalId.toLowerCase();
    const identity = view?.found.get(key);
    if (identity) {
      return {
        ...finding,
        // An identity only the directory revealed has no name in the logs.
        servicePrincipalName: finding.servicePrincipalName || identity.displayName,
        directory: {
          status: "found",
          appId: identity.appId,
          displayName: identity.displayName,
          accountEnabled: identity.accountEnabled,
          kind: identity.kind,
          resourceId: identity.resourceId,
        },
      };
    }
    const status = view?.asked.has(key) ? "deleted" : "not enriched";
    return { ...finding, directory: { status } };
  });
}
