import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/hunt/finding.js";
import { entraUrl } from "../../src/notify/evidence.js";
import { buildTeamsMessages, type CardItem, TEAMS_MAX_BYTES, type TeamsMessage } from "../../src/notify/teamsCard.js";
import { finding as baseFinding, MI_BACKUP_PROD, spId } from "../helpers/findings.js";

const RUN = new Date("2025-06-02T06:30:00Z");
const INCIDENT_URL =
  "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/Incidents/0b5c2a1e-0000-8000-8000-000000000001";
const HOSTILE_NAME = "mi-backup **URGENT** [approve here](https://evil.example/login) <at>SOC Team</at>";
// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters no card may contain
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

const finding = (overrides: Partial<Finding> = {}): Finding => baseFinding({ ...MI_BACKUP_PROD, ...overrides });

type Node = Record<string, unknown>;

/** Every object in the JSON, depth first, with the key it sits under. */
function* walk(value: unknown, key = ""): Generator<{ node: Node; key: string }> {
  if (Array.isArray(value)) for (const v of value) yield* walk(v, key);
  else if (value !== null && typeof value === "object") {
    yield { node: value as Node, key };
    for (const [k, v] of Object.entries(value)) yield* walk(v, k);
  }
}

/** Every string in the JSON, with the key it sits under and the object holding it. */
function* strings(
  value: unknown,
  key = "",
  parent: Node | null = null,
): Generator<{ text: string; key: string; parent: Node | null }> {
  if (typeof value === "string") yield { text: value, key, parent };
  else if (Array.isArray(value)) for (const v of value) yield* strings(v, key, parent);
  else if (value !== null && typeof value === "object")
    for (const [k, v] of Object.entries(value)) yield* strings(v, k, value as Node);
}

const content = (message: TeamsMessage): Node => ((message.body.attachments as Node[])[0] as Node).content as Node;
const cardBody = (message: TeamsMessage): Node[] => content(message).body as Node[];
const textBlocks = (message: TeamsMessage): string[] =>
  [...walk(message.body)].filter(({ node }) => node.type === "TextBlock").map(({ node }) => String(node.text));
const textRuns = (value: unknown): string[] =>
  [...walk(value)].filter(({ node }) => node.type === "TextRun").map(({ node }) => String(node.text));
const actions = (value: unknown): Node[] =>
  [...walk(value)]
    .filter(({ node }) => typeof node.type === "string" && node.type.startsWith("Action."))
    .map(({ node }) => node);
const blocks = (message: TeamsMessage): Node[] => cardBody(message).filter((e) => e.type === "Container");
const header = (message: TeamsMessage): string => textBlocks(message)[0] ?? "";
const bytes = (message: TeamsMessage): number => Buffer.byteLength(JSON.stringify(message.body), "utf8");

/** The TextRun after each "Label: " run in a finding's block. */
function evidence(block: Node): Record<string, string> {
  const lines: Record<string, string> = {};
  for (const { node } of walk(block)) {
    if (node.type !== "RichTextBlock") continue;
    const [label, value] = textRuns(node);
    if (label?.endsWith(": ") && value !== undefined) lines[label.slice(0, -2)] = value;
  }
  return lines;
}
const nameOf = (block: Node): string => textRuns(block)[0] ?? "";
const idOf = (block: Node): string => evidence(block).ServicePrincipalId ?? "";

/** The header's TextBlocks carry only the builder's own words, never a value from the logs. */
const HEADER_TEXT = [
  /^Stale managed identities: \d+ new risky findings?( \(\d+ of \d+\))?$/,
  /^Hunt run \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/,
];

function only(items: CardItem[]): TeamsMessage {
  const messages = buildTeamsMessages(items, RUN);
  expect(messages).toHaveLength(1);
  return messages[0] as TeamsMessage;
}

describe("the message structure", () => {
  it("is a Teams message with one Adaptive Card 1.4 attachment exactly as the Workflows webhook expects", () => {
    const message = only([{ finding: finding() }]);
    expect(Object.keys(message.body).sort()).toEqual(["attachments", "type"]);
    expect(message.body.type).toBe("message");
    const attachments = message.body.attachments as Node[];
    expect(attachments).toHaveLength(1);
    expect(attachments[0]).toMatchObject({ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null });
    expect(Object.keys(attachments[0] as Node).sort()).toEqual(["content", "contentType", "contentUrl"]);
    expect(content(message)).toMatchObject({
      type: "AdaptiveCard",
      version: "1.4",
      $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    });
    expect(Array.isArray(content(message).body)).toBe(true);
  });

  it("uses no element newer than Adaptive Cards 1.4 and no action but Action.OpenUrl anywhere", () => {
    const messages = buildTeamsMessages(
      [
        { finding: finding(), incidentUrl: INCIDENT_URL },
        { finding: finding({ servicePrincipalId: spId(2), riskSignal: "AzureActivityWithoutSignIn" }) },
      ],
      RUN,
    );
    const v14 = new Set(["TextBlock", "RichTextBlock", "TextRun", "Container", "ActionSet", "Action.OpenUrl"]);
    for (const message of messages) {
      const all = actions(message.body);
      expect(all.length).toBeGreaterThan(0);
      for (const action of all) expect(action.type).toBe("Action.OpenUrl");
      for (const { node, key } of walk(content(message).body)) if (key !== "msteams") expect(v14).toContain(node.type);
      expect(JSON.stringify(message.body)).not.toMatch(/Action\.(Submit|Execute|ShowCard|ToggleVisibility)/);
    }
  });

  it("offers the Entra admin center for every finding and the Sentinel incident only where one is given", () => {
    const message = only([
      { finding: finding({ servicePrincipalId: spId(1) }), incidentUrl: INCIDENT_URL },
      { finding: finding({ servicePrincipalId: spId(2) }) },
    ]);
    const [withIncident, without] = blocks(message);
    expect(actions(withIncident)).toEqual([
      { type: "Action.OpenUrl", title: "Open in Entra admin center", url: entraUrl(spId(1)) },
      { type: "Action.OpenUrl", title: "Open Sentinel incident", url: INCIDENT_URL },
    ]);
    expect(actions(without)).toEqual([
      { type: "Action.OpenUrl", title: "Open in Entra admin center", url: entraUrl(spId(2)) },
    ]);
  });
});

describe("the header", () => {
  const items: CardItem[] = [
    ...Array.from({ length: 3 }, (_, i) => ({ finding: finding({ servicePrincipalId: spId(i) }) })),
    ...Array.from({ length: 2 }, (_, i) => ({
      finding: finding({ servicePrincipalId: spId(10 + i), riskSignal: "AzureActivityWithoutSignIn" }),
    })),
    { finding: finding({ servicePrincipalId: spId(20), riskSignal: "CreatedAndModifiedButNeverUsed" }) },
    { finding: finding({ servicePrincipalId: spId(30), riskSignal: "NewSignalAddedByAnEngineer" }) },
  ];

  it("states how many new risky findings the run has", () => {
    expect(header(only(items))).toBe("Stale managed identities: 7 new risky findings");
  });

  it.each([
    ["Credential or role change on a stale identity", 3],
    ["Azure activity without a sign-in", 2],
    ["Created and modified, but never used", 1],
    ["NewSignalAddedByAnEngineer", 1],
  ])("counts the findings of %s: %i", (title, count) => {
    const counts = textRuns(cardBody(only(items))[1]).join("");
    expect(counts.split(" · ")).toContain(`${title}: ${count}`);
  });

  it("shows one count per signal, in order of first appearance", () => {
    expect(textRuns(cardBody(only(items))[1]).join("")).toBe(
      "Credential or role change on a stale identity: 3 · Azure activity without a sign-in: 2 · " +
        "Created and modified, but never used: 1 · NewSignalAddedByAnEngineer: 1",
    );
  });

  it("says 'finding' for a single finding and gives the run time in UTC", () => {
    expect(textBlocks(only([{ finding: finding() }]))).toEqual([
      "Stale managed identities: 1 new risky finding",
      "Hunt run 2025-06-02 06:30 UTC",
    ]);
  });
});

describe("a finding's block", () => {
  const f = finding({
    servicePrincipalId: spId(7),
    servicePrincipalName: "mi-payroll-export",
    stalenessCategory: "Stale180",
    daysSinceSignin: 214,
    lastSignin: "2024-11-01T09:00:00.000Z",
    lastResource: "https://storage.azure.com",
    changeTypes: ["Add service principal credentials"],
    changedBy: ["mallory@contoso.example", "AutomationApp"],
    azureOperations: ["MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION"],
    azureResources: ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/payroll"],
  });
  const block = (): Node => blocks(only([{ finding: f }]))[0] as Node;

  it("starts with the identity's display name in bold", () => {
    const [first] = [...walk(block())].filter(({ node }) => node.type === "TextRun");
    expect(first?.node).toEqual({ type: "TextRun", text: "mi-payroll-export", weight: "Bolder" });
  });

  it.each([
    ["ServicePrincipalId", spId(7)],
    ["Signal", "Credential or role change on a stale identity"],
    ["Staleness", "Stale180"],
    // A URL from the logs has its scheme defanged, so no renderer turns it into a link.
    ["Last sign-in", "2024-11-01 (214 days ago), last resource https∶//storage.azure.com"],
    ["Changes", "2 (last 2025-05-30): Add service principal credentials"],
    ["Changed by", "mallory@contoso.example, AutomationApp"],
    ["Azure operations", "4 (last 2025-05-31): MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION"],
    ["Azure resources", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/payroll"],
    ["Sign-in IPs", "203.0.113.7"],
  ])("shows %s as evidence", (label, value) => {
    expect(evidence(block())[label]).toBe(value);
  });

  it("says an identity that never signed in did not sign in within the lookback", () => {
    const [never] = blocks(only([{ finding: finding({ lastSignin: null, daysSinceSignin: 40 }) }]));
    expect(evidence(never as Node)["Last sign-in"]).toBe("never in the lookback (identity about 40 days old)");
  });

  it("shows every finding's ServicePrincipalId", () => {
    const ids = Array.from({ length: 12 }, (_, i) => spId(i));
    const message = only(ids.map((id) => ({ finding: finding({ servicePrincipalId: id }) })));
    expect(blocks(message).map(idOf)).toEqual(ids);
    expect(message.servicePrincipalIds).toEqual(ids);
  });
});

describe("hostile display names", () => {
  const hostile: CardItem[] = [
    {
      finding: finding({ servicePrincipalId: spId(1), servicePrincipalName: HOSTILE_NAME }),
      incidentUrl: INCIDENT_URL,
    },
    {
      finding: finding({
        servicePrincipalId: spId(2),
        servicePrincipalName: "mi-\u0000ctl\u001b[2J\u0007\r\nname\u202egnp.exe\u2066x\u200b\ufeff",
        changedBy: ["evil\u202e@contoso.example", "<at>SOC Team</at>"],
        changeTypes: ["**Add** [owner](https://evil.example/owner)"],
        azureOperations: ["`op`\nnext"],
        azureResources: ["[r](javascript:alert(1))"],
        extra: { "[col](https://evil.example/col)": "<b>bold</b>" },
      }),
    },
    { finding: finding({ servicePrincipalId: spId(3), servicePrincipalName: "L".repeat(5000) }) },
  ];
  const message = (): TeamsMessage => only(hostile);

  it("puts the hostile name into a TextRun unchanged, where Teams shows it as plain text", () => {
    expect(nameOf(blocks(message())[0] as Node)).toBe(HOSTILE_NAME.replace("://", "∶//"));
  });

  it("keeps every TextBlock's text to the builder's own words", () => {
    const texts = textBlocks(message());
    expect(texts.length).toBeGreaterThan(0);
    for (const text of texts) expect(HEADER_TEXT.some((pattern) => pattern.test(text))).toBe(true);
  });

  it("uses no FactSet, whose facts would render markdown", () => {
    const sets = [...walk(message().body)].filter(({ node }) => node.type === "FactSet" || "facts" in node);
    expect(sets).toEqual([]);
  });

  it.each([
    ["the emphasis", "**URGENT**"],
    ["the markdown link", "[approve here](https∶//evil.example/login)"],
    ["the mention", "<at>SOC Team</at>"],
    ["the attacker's host", "evil.example"],
    ["an HTML tag", "<b>"],
    ["a javascript: link", "javascript:"],
  ])("shows %s only as TextRun text", (_title, fragment) => {
    for (const { text, parent } of strings(message().body)) {
      if (text.includes(fragment)) expect(parent?.type).toBe("TextRun");
    }
    expect(textRuns(message().body).some((t) => t.includes(fragment))).toBe(true);
  });

  it("leaves no control or bidi character anywhere in the card", () => {
    for (const { text } of strings(message().body)) expect(text).not.toMatch(INVISIBLE);
    expect(nameOf(blocks(message())[1] as Node)).toBe("mi- ctl [2J name gnp.exe x");
  });

  it("cuts a 5,000-character name to 128 characters and an ellipsis", () => {
    const name = nameOf(blocks(message())[2] as Node);
    expect(name.length).toBeLessThanOrEqual(128 + 1);
    expect(name.endsWith("…")).toBe(true);
    expect(name.startsWith("LLLL")).toBe(true);
  });

  it("bounds every string in the card", () => {
    for (const { text, key } of strings(message().body))
      if (key !== "url") expect(text.length).toBeLessThanOrEqual(600);
  });

  it("has no link but the Entra admin center and the incident given", () => {
    const urls = [...strings(message().body)]
      .filter(({ key, parent }) => key === "url" || (parent?.type !== "TextRun" && key !== "$schema"))
      .map(({ text }) => text)
      .filter((text) => /:\/\/|^[a-z]+:/i.test(text));
    expect(urls.sort()).toEqual([entraUrl(spId(1)), entraUrl(spId(2)), entraUrl(spId(3)), INCIDENT_URL].sort());
    for (const { node } of walk(message().body)) expect(node).not.toHaveProperty("selectAction");
  });

  it("URL-encodes the ServicePrincipalId in the Entra link", () => {
    const id = "x/../../evil?a=1#frag &b";
    const [action] = actions(only([{ finding: finding({ servicePrincipalId: id }) }]).body);
    expect(action?.url).toBe(
      "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/x%2F..%2F..%2Fevil%3Fa%3D1%23frag%20%26b",
    );
  });
});

describe("splitting the digest", () => {
  /** A finding at its evidence bounds: every list long, every value long. */
  const heavy = (i: number, signal = "CredOrRoleChangeOnStaleIdentity"): Finding =>
    finding({
      servicePrincipalId: spId(i),
      servicePrincipalName: `mi-${i}-${"n".repeat(300)}`,
      riskSignal: signal,
      lastResource: "r".repeat(400),
      changeTypes: Array.from({ length: 40 }, (_, j) => `change-${j}-${"c".repeat(150)}`),
      changedBy: Array.from({ length: 40 }, (_, j) => `user${j}-${"u".repeat(200)}@contoso.example`),
      azureOperations: Array.from({ length: 40 }, (_, j) => `MICROSOFT.OP/${j}/${"o".repeat(200)}`),
      azureResources: Array.from({ length: 40 }, (_, j) => `/subscriptions/s/${j}/${"x".repeat(200)}`),
      ipAddresses: Array.from({ length: 40 }, (_, j) => `2001:db8::${j}`),
      extra: Object.fromEntries(Array.from({ length: 12 }, (_, j) => [`Column${j}`, "v".repeat(400)])),
    });
  const signals = ["CredOrRoleChangeOnStaleIdentity", "AzureActivityWithoutSignIn", "CreatedAndModifiedButNeverUsed"];
  const items: CardItem[] = Array.from({ length: 200 }, (_, i) => ({
    finding: heavy(i, signals[i % 3]),
    ...(i % 2 === 0 ? { incidentUrl: `${INCIDENT_URL}${i}` } : {}),
  }));

  it.each([
    ["the Teams limit", TEAMS_MAX_BYTES],
    ["a 16 KB limit", 16 * 1024],
    ["a 12 KB limit", 12 * 1024],
  ])("keeps every message of 200 long findings within %s", (_title, maxBytes) => {
    const messages = buildTeamsMessages(items, RUN, maxBytes);
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages) expect(bytes(message)).toBeLessThanOrEqual(maxBytes);
  });

  it("numbers the messages 1 of N to N of N, in the header and in the result", () => {
    const messages = buildTeamsMessages(items, RUN);
    const n = messages.length;
    expect(messages.map(header)).toEqual(
      messages.map((_, i) => `Stale managed identities: 200 new risky findings (${i + 1} of ${n})`),
    );
    expect(messages.map((m) => [m.index, m.total])).toEqual(messages.map((_, i) => [i + 1, n]));
  });

  it("repeats the whole run's counts per signal in every message", () => {
    for (const message of buildTeamsMessages(items, RUN)) {
      expect(textRuns(cardBody(message)[1]).join("")).toBe(
        "Credential or role change on a stale identity: 67 · Azure activity without a sign-in: 67 · " +
          "Created and modified, but never used: 66",
      );
    }
  });

  it("puts every finding in exactly one message, in order", () => {
    const messages = buildTeamsMessages(items, RUN);
    const shown = messages.flatMap((m) => blocks(m).map(idOf));
    expect(shown).toEqual(items.map((i) => i.finding.servicePrincipalId));
    expect(new Set(shown).size).toBe(200);
  });

  it("reports in servicePrincipalIds exactly the findings each message shows", () => {
    for (const message of buildTeamsMessages(items, RUN)) {
      expect(message.servicePrincipalIds).toEqual(blocks(message).map(idOf));
    }
  });

  it("keeps each finding's incident button with its own block", () => {
    for (const message of buildTeamsMessages(items, RUN)) {
      for (const block of blocks(message)) {
        const i = Number(idOf(block).slice(-12));
        const urls = actions(block).map((a) => a.url);
        expect(urls).toEqual(i % 2 === 0 ? [entraUrl(spId(i)), `${INCIDENT_URL}${i}`] : [entraUrl(spId(i))]);
      }
    }
  });

  it("fills messages rather than sending one per finding", () => {
    const messages = buildTeamsMessages(items, RUN);
    const [first, second] = messages;
    expect(blocks(first as TeamsMessage).length).toBeGreaterThan(1);
    // The next finding would not have fitted into the message before it (whose "(1 of N)" header is at most
    // a few bytes narrower than the one packing reserves).
    const next = Buffer.byteLength(JSON.stringify(blocks(second as TeamsMessage)[0]), "utf8");
    expect(bytes(first as TeamsMessage) + 1 + next + 16).toBeGreaterThan(TEAMS_MAX_BYTES);
  });

  it("never overflows when the split runs to a thousand messages or more", () => {
    const many = Array.from({ length: 2000 }, (_, i) => ({ finding: finding({ servicePrincipalId: spId(i) }) }));
    // Exactly the size of a two-finding message of this digest numbered "(999 of 999)", so that packing for at
    // most 999 messages would put two findings in each of 1,000 messages, and "(100 of 1000)" would overflow.
    const [pair] = buildTeamsMessages(many.slice(0, 2), RUN);
    const two = structuredClone((pair as TeamsMessage).body);
    const twoBody = ((two.attachments as Node[])[0] as Node).content as Node;
    const [title, counts, ...rest] = twoBody.body as Node[];
    twoBody.body = [
      { ...title, text: "Stale managed identities: 2000 new risky findings (999 of 999)" },
      { ...counts, inlines: [{ type: "TextRun", text: "Credential or role change on a stale identity: 2000" }] },
      ...rest,
    ];
    const maxBytes = Buffer.byteLength(JSON.stringify(two), "utf8");

    const messages = buildTeamsMessages(many, RUN, maxBytes);
    for (const message of messages) expect(bytes(message)).toBeLessThanOrEqual(maxBytes);
    expect(messages.flatMap((m) => m.servicePrincipalIds)).toEqual(many.map((i) => i.finding.servicePrincipalId));
  });

  it.each([
    ["ASCII", "a"],
    ["three-byte characters", "一"],
    ["characters JSON escapes", '"'],
    ["emoji", "😀"],
    ["lone surrogates", "\ud800"],
  ])("fits one finding at every evidence bound into one message (%s)", (_title, c) => {
    const s = (n: number) => c.repeat(n);
    const worst = finding({
      servicePrincipalName: s(1000),
      stalenessCategory: s(100),
      riskSignal: s(1000),
      lastResource: s(1000),
      changeTypes: Array(50).fill(s(1000)),
      changedBy: Array(50).fill(s(1000)),
      azureOperations: Array(50).fill(s(1000)),
      azureResources: Array(50).fill(s(1000)),
      ipAddresses: Array(50).fill(s(1000)),
      extra: Object.fromEntries(Array.from({ length: 20 }, (_, j) => [`${s(100)}${j}`, s(1000)])),
    });
    const messages = buildTeamsMessages([{ finding: worst, incidentUrl: INCIDENT_URL }], RUN);
    expect(messages).toHaveLength(1);
    expect(bytes(messages[0] as TeamsMessage)).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
  });

  it("sends a single finding as one message that does not say 'of'", () => {
    const [message, ...more] = buildTeamsMessages([{ finding: heavy(1) }], RUN);
    expect(more).toEqual([]);
    expect(message).toMatchObject({ index: 1, total: 1, servicePrincipalIds: [spId(1)] });
    expect(textBlocks(message as TeamsMessage).join(" ")).not.toMatch(/\bof\b/);
  });

  it("sends no message when there is no finding", () => {
    expect(buildTeamsMessages([], RUN)).toEqual([]);
  });
});
