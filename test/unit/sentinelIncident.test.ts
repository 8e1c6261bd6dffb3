import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/hunt/finding.js";
import { entraUrl } from "../../src/notify/evidence.js";
import {
  buildIncident,
  DEFAULT_SEVERITIES,
  DESCRIPTION_MAX,
  FALLBACK_SEVERITY,
  type IncidentOptions,
  incidentIdFor,
  type Severity,
} from "../../src/notify/sentinelIncident.js";
import { finding as baseFinding, MI_BACKUP_PROD } from "../helpers/findings.js";

const WORKSPACE =
  "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law-sec";
const NOW = new Date("2025-06-02T06:30:00.000Z");
const OPTIONS: IncidentOptions = { severities: DEFAULT_SEVERITIES, now: NOW };
const GUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HOSTILE_NAME = "mi-backup **URGENT** [approve here](https://evil.example/login) <at>SOC Team</at>";
// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters no incident may contain
const INVISIBLE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

const finding = (overrides: Partial<Finding> = {}): Finding => baseFinding({ ...MI_BACKUP_PROD, ...overrides });

interface Properties {
  title: string;
  severity: Severity;
  status: string;
  description: string;
  labels: { labelName: string }[];
  firstActivityTimeUtc: string;
  lastActivityTimeUtc: string;
}
const incident = (f: Finding, options: IncidentOptions = OPTIONS): Properties =>
  buildIncident(f, options).properties as Properties;

describe("incidentIdFor", () => {
  it("gives the same id for the same workspace, finding and episode", () => {
    expect(incidentIdFor(WORKSPACE, finding(), 1)).toBe(incidentIdFor(WORKSPACE, finding(), 1));
  });

  it.each([
    ["the default finding", finding(), 1],
    ["a never-used identity in a later episode", finding({ riskSignal: "CreatedAndModifiedButNeverUsed" }), 7],
    ["an unknown signal", finding({ riskSignal: "SomethingNew" }), 0],
    ["another identity", finding({ servicePrincipalId: "00000000-0000-0000-0000-000000000000" }), 123456],
  ])("is a version 8 GUID for %s", (_title, f, episode) => {
    expect(incidentIdFor(WORKSPACE, f, episode)).toMatch(GUID_V8);
  });

  it.each([
    ["another workspace", `${WORKSPACE}-2`, finding(), 1],
    ["another RiskSignal", WORKSPACE, finding({ riskSignal: "AzureActivityWithoutSignIn" }), 1],
    ["another episode", WORKSPACE, finding(), 2],
    ["another identity", WORKSPACE, finding({ servicePrincipalId: "3f2b6c1d-8a4e-4b7f-9c2d-1e5a6b7c8d9f" }), 1],
  ])("differs for %s", (_title, workspace, f, episode) => {
    expect(incidentIdFor(workspace, f, episode)).not.toBe(incidentIdFor(WORKSPACE, finding(), 1));
  });

  it.each([
    ["the workspace id in upper case", WORKSPACE.toUpperCase(), finding()],
    ["the workspace id in lower case", WORKSPACE.toLowerCase(), finding()],
    [
      "the ServicePrincipalId in upper case",
      WORKSPACE,
      finding({ servicePrincipalId: "3F2B6C1D-8A4E-4B7F-9C2D-1E5A6B7C8D9E" }),
    ],
    ["another display name or evidence", WORKSPACE, finding({ servicePrincipalName: "renamed", recentChanges: 9 })],
  ])("stays the same for %s", (_title, workspace, f) => {
    expect(incidentIdFor(workspace, f, 1)).toBe(incidentIdFor(WORKSPACE, finding(), 1));
  });
});

describe("buildIncident", () => {
  it("wraps the incident in properties, with exactly the fields the API takes", () => {
    const body = buildIncident(finding(), OPTIONS);
    expect(Object.keys(body)).toEqual(["properties"]);
    expect(Object.keys(body.properties as object).sort()).toEqual(
      ["description", "firstActivityTimeUtc", "labels", "lastActivityTimeUtc", "severity", "status", "title"].sort(),
    );
  });

  it.each([
    ["CredOrRoleChangeOnStaleIdentity", "High"],
    ["AzureActivityWithoutSignIn", "High"],
    ["CreatedAndModifiedButNeverUsed", "Medium"],
    ["SignalAddedByAnEngineer", FALLBACK_SEVERITY],
  ])("gives %s the default severity %s", (signal, severity) => {
    expect(incident(finding({ riskSignal: signal })).severity).toBe(severity);
  });

  it("falls back to Medium for a signal the map does not know", () => {
    expect(FALLBACK_SEVERITY).toBe("Medium");
    expect(incident(finding({ riskSignal: "Unmapped" }), { severities: {}, now: NOW }).severity).toBe("Medium");
  });

  it.each([
    ["CredOrRoleChangeOnStaleIdentity", "Low"],
    ["CreatedAndModifiedButNeverUsed", "Informational"],
    ["SignalAddedByAnEngineer", "High"],
  ] as const)("lets an override map set %s to %s", (signal, severity) => {
    const severities = { ...DEFAULT_SEVERITIES, [signal]: severity };
    expect(incident(finding({ riskSignal: signal }), { severities, now: NOW }).severity).toBe(severity);
  });

  it.each(["CredOrRoleChangeOnStaleIdentity", "AzureActivityWithoutSignIn", "CreatedAndModifiedButNeverUsed"])(
    "opens the incident for %s as New",
    (signal) => {
      expect(incident(finding({ riskSignal: signal })).status).toBe("New");
    },
  );

  it.each(["CredOrRoleChangeOnStaleIdentity", "AzureActivityWithoutSignIn", "CreatedAndModifiedButNeverUsed"])(
    "labels the incident for %s with the hunt, the signal and both MITRE techniques",
    (signal) => {
      expect(incident(finding({ riskSignal: signal })).labels).toEqual([
        { labelName: "StaleManagedIdentityHunt" },
        { labelName: signal },
        { labelName: "T1078.004" },
        { labelName: "T1098.001" },
      ]);
    },
  );

  it("makes an unknown signal's label inert and bounded", () => {
    const [, label] = incident(finding({ riskSignal: `<b>[x](y)</b>${"s".repeat(500)}` })).labels;
    expect(label?.labelName).not.toMatch(/[<>[\]]/);
    expect(label?.labelName.length).toBeLessThanOrEqual(100);
  });

  const T1 = "2025-01-26T08:15:00.000Z";
  const T2 = "2025-05-30T22:41:00.000Z";
  const T3 = "2025-05-31T01:02:00.000Z";
  it.each([
    ["all three times, in order", T1, T2, T3, T1, T3],
    ["all three times, out of order", T3, T1, T2, T1, T3],
    ["a sign-in and a change", T2, T1, null, T1, T2],
    ["no sign-in, a change and an Azure operation", null, T3, T2, T2, T3],
    ["only an Azure operation", null, null, T2, T2, T2],
    ["only a sign-in", T1, null, null, T1, T1],
    ["no time at all", null, null, null, NOW.toISOString(), NOW.toISOString()],
  ])("spans the activity from the earliest to the latest time given %s", (_title, signin, change, op, first, last) => {
    const p = incident(finding({ lastSignin: signin, lastChange: change, lastAzureOp: op }));
    expect([p.firstActivityTimeUtc, p.lastActivityTimeUtc]).toEqual([first, last]);
  });

  describe("the description", () => {
    const guidanceEnd = (f: Finding) => `\nOpen in Entra admin center: ${entraUrl(f.servicePrincipalId)}`;

    it("describes a stale identity by the days since its last sign-in", () => {
      const p = incident(finding({ daysSinceSignin: 127 }));
      expect(p.description).toMatch(
        /^Managed identity mi-backup-prod has not signed in for 127 days, yet shows a risk signal\.\n/,
      );
      expect(p.description).not.toContain("never signed in");
    });

    it("describes an identity that never signed in by its age", () => {
      const p = incident(finding({ lastSignin: null, daysSinceSignin: 40 }));
      expect(p.description).toMatch(
        /^Managed identity mi-backup-prod has never signed in \(created about 40 days ago\), yet shows a risk signal\.\n/,
      );
      expect(p.description).not.toContain("has not signed in for");
    });

    it.each([
      ["ServicePrincipalId", "3f2b6c1d-8a4e-4b7f-9c2d-1e5a6b7c8d9e"],
      ["Signal", "Credential or role change on a stale identity"],
      ["Staleness", "Stale90"],
      [
        "Changes",
        "2 (last 2025-05-30): Add service principal credentials, Add app role assignment to service principal",
      ],
      ["Changed by", "mallory@contoso.example"],
      ["Azure operations", "4 (last 2025-05-31): MICROSOFT.KEYVAULT/VAULTS/SECRETS/READ"],
      ["Azure resources", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod"],
    ])("lists %s as evidence", (label, value) => {
      expect(incident(finding()).description).toContain(`\n${label}: ${value}\n`);
    });

    it("ends with what to do and the Entra link", () => {
      const f = finding();
      const { description } = incident(f);
      expect(description).toContain("\n\nWhat to do:\n1. ");
      expect(description).toContain("\n3. ");
      expect(description.endsWith(guidanceEnd(f))).toBe(true);
    });

    /** Evidence at every bound, with one column whose length moves the cut across every position. */
    const huge = (pad: number, name: string, c = "x"): Finding =>
      finding({
        servicePrincipalName: name,
        lastResource: c.repeat(1000),
        changeTypes: Array(50).fill(c.repeat(1000)),
        changedBy: Array(50).fill(c.repeat(1000)),
        azureOperations: Array(50).fill(c.repeat(1000)),
        azureResources: Array(50).fill(c.repeat(1000)),
        ipAddresses: Array(50).fill(c.repeat(1000)),
        extra: {
          Pad: "p".repeat(pad),
          ...Object.fromEntries(Array.from({ length: 12 }, (_, j) => [`Column${j}`, c.repeat(1000)])),
        },
      });

    it.each([
      ["a short name", "mi", "x"],
      ["a long name", "n".repeat(64), "x"],
      ["a name at the bound", "n".repeat(5000), "x"],
      ["emoji evidence", "mi", "😀"],
      ["evidence full of markup", HOSTILE_NAME, "<*>"],
    ])("stays within 5,000 characters and keeps the guidance, with huge evidence and %s", (_title, name, c) => {
      for (let pad = 0; pad <= 250; pad++) {
        const f = huge(pad, name, c);
        const { description } = incident(f);
        expect(description.length, `pad ${pad}`).toBeLessThanOrEqual(DESCRIPTION_MAX);
        expect(description.endsWith(guidanceEnd(f)), `pad ${pad}`).toBe(true);
        expect(description).toContain("\nWhat to do:\n");
      }
    });

    it("drops whole evidence lines that do not fit, never half of one", () => {
      const { description } = incident(huge(0, "mi"));
      const evidence = description.slice(description.indexOf("\n\n") + 2, description.indexOf("\n\nWhat to do:"));
      for (const line of evidence.split("\n")) expect(line).toMatch(/^[A-Za-z0-9 -]+: /);
      expect(evidence).not.toContain("Column11");
    });
  });

  describe("a hostile display name", () => {
    it.each([
      ["markdown emphasis, link and a mention", HOSTILE_NAME],
      ["an HTML tag", 'mi-<img src=x onerror="alert(1)">'],
      ["a script element", "<script>alert(1)</script>"],
      ["inline code and a code fence", "mi `whoami` ```js"],
      ["an image", "![x](https://evil.example/pixel.png)"],
      ["escaped markup", "\\<b\\>\\[x\\]"],
      ["an HTML entity", "&lt;b&gt;bold&lt;/b&gt;"],
    ])("cannot form markup through %s", (_title, name) => {
      const p = incident(finding({ servicePrincipalName: name }));
      for (const text of [p.title, p.description]) {
        expect(text).not.toMatch(/[<>[\]*`]/);
        expect(text).not.toContain("](");
        expect(text).not.toMatch(/&[a-z#0-9]+;/i);
      }
    });

    it("still reads as the name it imitates", () => {
      const p = incident(finding({ servicePrincipalName: HOSTILE_NAME }));
      expect(p.title).toBe(
        "Stale managed identity mi-backup ∗∗URGENT∗∗ ⟦approve here⟧(https∶//evil.example/login) ‹at›SOC Team‹/at›: Credential or role change on a stale identity",
      );
      expect(p.description).toContain("Managed identity mi-backup ∗∗URGENT∗∗ ⟦approve here⟧");
    });

    it("loses its control and bidi characters, so it cannot hide or reorder text", () => {
      const p = incident(finding({ servicePrincipalName: "mi-\u202egnp.exe\u0000\r\n# Heading\u2066\u200b" }));
      expect(p.title).not.toMatch(INVISIBLE);
      expect(p.title).not.toContain("\n");
      expect(p.description).not.toMatch(INVISIBLE);
      expect(p.description.startsWith("Managed identity mi- gnp.exe # Heading has not signed in")).toBe(true);
    });

    it.each([
      ["a 5,000-character name", "n".repeat(5000), "SignalAddedByAnEngineer"],
      ["a 5,000-character name and signal", "n".repeat(5000), "s".repeat(5000)],
    ])("keeps the title within 250 characters for %s", (_title, name, signal) => {
      const { title } = incident(finding({ servicePrincipalName: name, riskSignal: signal }));
      expect(title.length).toBeLessThanOrEqual(250);
      expect(title).toContain(`${"n".repeat(127)}…`);
      expect(title).not.toContain("n".repeat(128));
    });

    it("cannot form markup through an unknown signal in the title", () => {
      const { title } = incident(finding({ riskSignal: "<b>[Signal](https://evil.example)</b>" }));
      expect(title).not.toMatch(/[<>[\]*`]/);
    });
  });
});
