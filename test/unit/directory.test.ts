import { describe, expect, it } from "vitest";
import type { DirectoryIdentity } from "../../src/graph/directory.js";
import { enrichFindings, kindOf, parseServicePrincipals } from "../../src/graph/directory.js";
import { finding } from "../helpers/findings.js";

const ID = "0a1b2c3d-0000-4000-8000-000000000001";
const RESOURCE =
  "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi-a";

describe("kindOf", () => {
  it.each([
    {
      case: "a user-assigned identity",
      type: "ManagedIdentity",
      names: ["isExplicit=True", RESOURCE],
      kind: "user-assigned",
      resourceId: RESOURCE,
    },
    {
      case: "a system-assigned identity",
      type: "ManagedIdentity",
      names: ["isExplicit=False", "/subscriptions/x/resourcegroups/rg/providers/Microsoft.Web/sites/f"],
      kind: "system-assigned",
      resourceId: "/subscriptions/x/resourcegroups/rg/providers/Microsoft.Web/sites/f",
    },
    {
      case: "the names in another order and case",
      type: "ManagedIdentity",
      names: [RESOURCE, "isexplicit=true"],
      kind: "user-assigned",
      resourceId: RESOURCE,
    },
    {
      case: "a managed identity without alternative names",
      type: "ManagedIdentity",
      names: [],
      kind: "system-assigned",
      resourceId: null,
    },
    {
      case: "an application's service principal",
      type: "Application",
      names: [],
      kind: "not a managed identity",
      resourceId: null,
    },
  ])("reads $case", ({ type, names, kind, resourceId }) => {
    expect(kindOf(type, names)).toEqual({ kind, resourceId });
  });
});

describe("parseServicePrincipals", () => {
  const item = {
    "@odata.type": "#microsoft.graph.servicePrincipal",
    id: ID.toUpperCase(),
    appId: "app-1",
    displayName: "mi-a",
    accountEnabled: false,
    servicePrincipalType: "ManagedIdentity",
    alternativeNames: ["isExplicit=True", RESOURCE],
  };

  it("reads a Graph collection body, lowercasing the object id", () => {
    expect(parseServicePrincipals({ value: [item] }, "test")).toEqual<DirectoryIdentity[]>([
      {
        id: ID,
        appId: "app-1",
        displayName: "mi-a",
        accountEnabled: false,
        servicePrincipalType: "ManagedIdentity",
        kind: "user-assigned",
        resourceId: RESOURCE,
      },
    ]);
  });

  it.each([
    { case: "a body without a value array", body: { values: [] }, says: /expected an object with a "value" array/ },
    { case: "null", body: null, says: /expected an object with a "value" array/ },
    { case: "an item that is not an object", body: { value: ["x"] }, says: /item 1 is not usable: not an object/ },
    {
      case: "an item without an id",
      body: { value: [{ ...item, id: undefined }] },
      says: /item 1 is not usable: id undefined is not an object id/,
    },
    {
      case: "an id that is not a GUID",
      body: { value: [item, { ...item, id: "../../etc" }] },
      says: /item 2 is not usable: id "\.\.\/\.\.\/etc" is not an object id/,
    },
    {
      case: "a user where a service principal belongs",
      body: { value: [{ ...item, "@odata.type": "#microsoft.graph.user" }] },
      says: /a #microsoft\.graph\.user, not a service principal/,
    },
  ])("refuses $case, naming where", ({ body, says }) => {
    expect(() => parseServicePrincipals(body, "GET /v1.0/servicePrincipals, page 1")).toThrow(says);
    expect(() => parseServicePrincipals(body, "GET /v1.0/servicePrincipals, page 1")).toThrow(
      /^Microsoft Graph's answer from GET \/v1\.0\/servicePrincipals, page 1/,
    );
  });

  it("reads a missing accountEnabled as enabled and missing strings as empty", () => {
    const [identity] = parseServicePrincipals({ value: [{ id: ID }] }, "test");
    expect(identity).toMatchObject({
      accountEnabled: true,
      appId: "",
      displayName: "",
      kind: "not a managed identity",
    });
  });
});

describe("enrichFindings", () => {
  const identity: DirectoryIdentity = {
    id: ID,
    appId: "app-1",
    displayName: "mi-from-graph",
    accountEnabled: true,
    servicePrincipalType: "ManagedIdentity",
    kind: "system-assigned",
    resourceId: RESOURCE,
  };
  const found = new Map([[ID, identity]]);
  const OTHER = "0a1b2c3d-0000-4000-8000-000000000002";

  it.each([
    {
      case: "adds what Graph returned, matching ids in any case",
      input: finding({ servicePrincipalId: ID.toUpperCase() }),
      view: { found, asked: new Set<string>() },
      expected: {
        status: "found",
        appId: "app-1",
        displayName: "mi-from-graph",
        accountEnabled: true,
        kind: "system-assigned",
        resourceId: RESOURCE,
      },
    },
    {
      case: "marks an id Graph was asked about and did not return as deleted",
      input: finding({ servicePrincipalId: OTHER }),
      view: { found, asked: new Set([OTHER]) },
      expected: { status: "deleted" },
    },
    {
      case: "marks an id Graph was never asked about as not enriched",
      input: finding({ servicePrincipalId: OTHER }),
      view: { found, asked: new Set<string>() },
      expected: { status: "not enriched" },
    },
    {
      case: "marks every finding not enriched when there is no view at all",
      input: finding({ servicePrincipalId: ID }),
      view: undefined,
      expected: { status: "not enriched" },
    },
  ])("$case", ({ input, view, expected }) => {
    const [enriched] = enrichFindings([input], view);
    expect(enriched?.directory).toEqual(expected);
    expect({ ...enriched, directory: undefined }).toEqual({ ...input, directory: undefined });
  });

  it("names an identity only the directory revealed, and keeps the logs' name otherwise", () => {
    const view = { found, asked: new Set<string>() };
    expect(
      enrichFindings([finding({ servicePrincipalId: ID, servicePrincipalName: "" })], view)[0]?.servicePrincipalName,
    ).toBe("mi-from-graph");
    expect(
      enrichFindings([finding({ servicePrincipalId: ID, servicePrincipalName: "mi-logs" })], view)[0]
        ?.servicePrincipalName,
    ).toBe("mi-logs");
  });
});
