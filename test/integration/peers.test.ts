import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildIncident, DEFAULT_SEVERITIES, incidentIdFor } from "../../src/notify/sentinelIncident.js";
import { buildTeamsMessages } from "../../src/notify/teamsCard.js";
import type { ArmPeer } from "../helpers/armPeer.js";
import { HANG, READ_ONLY_PROPERTIES, serverError, startArmPeer, throttled } from "../helpers/armPeer.js";
import { finding, RUN_DATE } from "../helpers/delivery.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer, TEAMS_MAX_BYTES } from "../helpers/teamsPeer.js";

/**
 * The stand-ins are only worth their "no violations" if they refuse what the real services refuse: these tests
 * speak to them directly, with payloads the product would never send.
 */

const HOSTILE = "mi-backup **URGENT** [approve here](https://evil.example/login) <at>SOC Team</at>";
const PATH = "/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sig=peerTestSig";

type Json = Record<string, unknown>;
const clone = <T>(value: T): T => structuredClone(value);

/** A card exactly as the product builds it, to break one field at a time. */
function validMessage(): Json {
  const [message] = buildTeamsMessages([{ finding: finding({ servicePrincipalName: HOSTILE }) }], RUN_DATE);
  if (!message) throw new Error("no message");
  return clone(message.body);
}
const cardOf = (message: Json) => (message.attachments as Json[])[0]?.content as Json;
const cardBody = (message: Json) => cardOf(message).body as Json[];

describe("the Teams Workflows stand-in", () => {
  let teams: TeamsPeer;
  beforeEach(async () => {
    teams = await startTeamsPeer({ path: PATH, hostileNames: [HOSTILE] });
  });
  afterEach(async () => {
    await teams.close();
  });

  const post = (body: unknown, init: RequestInit = {}) =>
    fetch(`${teams.url}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
      ...init,
    });

  it("accepts the product's card, hostile name in its TextRuns, with 202 and records it", async () => {
    const message = validMessage();
    expect((await post(message)).status).toBe(202);
    expect(teams.accepted).toEqual([message]);
    expect(teams.violations).toEqual([]);
  });

  it.each<[string, (m: Json) => void, string]>([
    ["a type other than message", (m) => (m.type = "card"), 'type must be "message"'],
    ["two attachments", (m) => (m.attachments = [...(m.attachments as Json[]), {}]), "exactly one attachment"],
    ["another content type", (m) => (((m.attachments as Json[])[0] as Json).contentType = "text/html"), "contentType"],
    ["no contentUrl", (m) => delete ((m.attachments as Json[])[0] as Json).contentUrl, "contentUrl must be null"],
    ["card version 1.5", (m) => (cardOf(m).version = "1.5"), 'card version must be "1.4"'],
    ["no $schema", (m) => delete cardOf(m).$schema, "$schema must be"],
    ["an empty card body", (m) => (cardOf(m).body = []), "non-empty array"],
    [
      "an Action.Submit",
      (m) => cardBody(m).push({ type: "ActionSet", actions: [{ type: "Action.Submit", title: "Approve" }] }),
      "only Action.OpenUrl",
    ],
    [
      "an Action.Execute as a selectAction",
      (m) => cardBody(m).push({ type: "Container", items: [], selectAction: { type: "Action.Execute" } }),
      "only Action.OpenUrl",
    ],
    [
      "an Action.OpenUrl to a javascript: url",
      (m) => cardBody(m).push({ type: "ActionSet", actions: [{ type: "Action.OpenUrl", url: "javascript:alert(1)" }] }),
      "absolute https url",
    ],
    ["a Table (Adaptive Cards 1.5)", (m) => cardBody(m).push({ type: "Table", rows: [] }), "not a display element"],
    [
      "the hostile name in a TextBlock",
      (m) => cardBody(m).push({ type: "TextBlock", text: `Identity: ${HOSTILE}` }),
      "as markdown",
    ],
    [
      "a cut piece of the hostile name in a Fact",
      (m) => cardBody(m).push({ type: "FactSet", facts: [{ title: "Name", value: "[approve here](https∶//evil" }] }),
      "as markdown",
    ],
  ])("refuses a message with %s (400)", async (_, breakIt, reason) => {
    const message = validMessage();
    breakIt(message);
    const response = await post(message);

    expect(response.status).toBe(400);
    expect(teams.accepted).toEqual([]);
    expect(teams.violations).toHaveLength(1);
    expect(teams.violations[0]).toMatch(/^payload: /);
    expect(teams.violations[0]).toContain(reason);
  });

  it("refuses a body that is not JSON, or not sent as application/json (400), a GET (405) and another path (404)", async () => {
    expect((await post("{not json")).status).toBe(400);
    expect((await post(validMessage(), { headers: { "content-type": "text/plain" } })).status).toBe(400);
    expect((await fetch(`${teams.url}${PATH}`)).status).toBe(405);
    expect((await fetch(`${teams.url}/workflows/other`, { method: "POST", body: "{}" })).status).toBe(404);
    expect(teams.violations.map((v) => v.split(":")[0])).toEqual(["payload", "payload", "method", "path"]);
  });

  it("accepts a message of exactly 28 KB and refuses one byte more with 413", async () => {
    const padded = (bytes: number) => {
      const message = validMessage();
      const base = Buffer.byteLength(JSON.stringify({ ...message, padding: "" }));
      return { ...message, padding: "x".repeat(bytes - base) };
    };
    expect(Buffer.byteLength(JSON.stringify(padded(TEAMS_MAX_BYTES)))).toBe(TEAMS_MAX_BYTES);

    expect((await post(padded(TEAMS_MAX_BYTES))).status).toBe(202);
    expect((await post(padded(TEAMS_MAX_BYTES + 1))).status).toBe(413);
    expect(teams.violations).toEqual([`size: ${TEAMS_MAX_BYTES + 1} bytes is over ${TEAMS_MAX_BYTES}`]);
  });

  it("answers the fifth request within a second with 429 and Retry-After: 1, and accepts again a second later", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await post(validMessage());
      statuses.push(response.status);
      if (i === 4) expect(response.headers.get("retry-after")).toBe("1");
    }
    expect(statuses).toEqual([202, 202, 202, 202, 429]);
    expect(teams.violations).toHaveLength(1);
    expect(teams.violations[0]).toMatch(/^rate: /);

    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await post(validMessage())).status).toBe(202);
    expect(teams.accepted).toHaveLength(5);
  });
});

describe("the ARM stand-in for Sentinel incidents", () => {
  const WORKSPACE =
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-soc/providers/Microsoft.OperationalInsights/workspaces/law-soc";
  const ID = incidentIdFor(WORKSPACE, finding(), 1);
  const INCIDENT = `${WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/${ID}`;
  const TOKEN = "peer-test-token";
  let arm: ArmPeer;

  beforeEach(async () => {
    arm = await startArmPeer({ token: TOKEN });
  });
  afterEach(async () => {
    await arm.close();
  });

  const validBody = (): Json => clone(buildIncident(finding(), { severities: DEFAULT_SEVERITIES, now: RUN_DATE }));
  const propertiesOf = (body: Json) => body.properties as Json;
  const call = (
    method: "GET" | "PUT",
    options: { path?: string; body?: unknown; token?: string | null; signal?: AbortSignal } = {},
  ) =>
    fetch(`${arm.url}${options.path ?? `${INCIDENT}?api-version=2025-12-01`}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(options.token === null ? {} : { authorization: `Bearer ${options.token ?? TOKEN}` }),
      },
      body: method === "PUT" ? JSON.stringify(options.body ?? validBody()) : undefined,
      signal: options.signal,
    });

  it("creates with 201, updates with 200, and answers a GET with the incident or 404", async () => {
    expect((await call("GET")).status).toBe(404);
    expect((await call("PUT")).status).toBe(201);
    expect((await call("PUT")).status).toBe(200);
    const got = await call("GET");
    expect(got.status).toBe(200);
    expect(((await got.json()) as Json).name).toBe(ID);
    expect(arm.incidents.get(ID)?.properties).toEqual(validBody().properties);
    expect(arm.violations).toEqual([]);
  });

  it.each<[string, string | null]>([
    ["no Authorization header", null],
    ["another token", "not-the-token"],
  ])("answers 401 to a request with %s", async (_, token) => {
    const response = await call("PUT", { token });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("AuthenticationFailed");
    expect(arm.incidents.size).toBe(0);
    expect(arm.violations).toHaveLength(1);
  });

  it.each([
    ["another api-version", `${INCIDENT}?api-version=2023-02-01`],
    ["no api-version", INCIDENT],
    ["an extra query parameter", `${INCIDENT}?api-version=2025-12-01&x=1`],
    [
      "a subscription that is not a GUID",
      `${INCIDENT.replace("00000000-0000-0000-0000-000000000001", "sub")}?api-version=2025-12-01`,
    ],
    [
      "an incident id that is not a GUID",
      `${WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/my-incident?api-version=2025-12-01`,
    ],
    [
      "another resource type",
      `${WORKSPACE}/providers/Microsoft.SecurityInsights/alertRules/${ID}?api-version=2025-12-01`,
    ],
  ])("answers 400 to a request with %s", async (_, path) => {
    const response = await call("GET", { path });
    expect(response.status).toBe(400);
    expect(arm.violations).toHaveLength(1);
  });

  it.each<[string, (b: Json) => void]>([
    ["no title", (b) => delete propertiesOf(b).title],
    ["an empty title", (b) => (propertiesOf(b).title = " ")],
    ["severity Critical", (b) => (propertiesOf(b).severity = "Critical")],
    ["no severity", (b) => delete propertiesOf(b).severity],
    ["status Open", (b) => (propertiesOf(b).status = "Open")],
    ["a description of 5,001 characters", (b) => (propertiesOf(b).description = "d".repeat(5001))],
    ["labels that are strings", (b) => (propertiesOf(b).labels = ["StaleManagedIdentityHunt"])],
    ["a label with its read-only labelType", (b) => (propertiesOf(b).labels = [{ labelName: "x", labelType: "User" }])],
    ["a firstActivityTimeUtc that is not a date-time", (b) => (propertiesOf(b).firstActivityTimeUtc = "2026-12-01")],
    ["a misspelt property", (b) => (propertiesOf(b).titel = "t")],
    ["a top-level id", (b) => (b.id = "/subscriptions/x")],
    ["no properties", (b) => delete b.properties],
    ...READ_ONLY_PROPERTIES.map((p): [string, (b: Json) => void] => [
      `the read-only ${p}`,
      (b) => (propertiesOf(b)[p] = p === "incidentNumber" ? 1 : "x"),
    ]),
  ])("refuses a PUT with %s: 400 with an ARM error body", async (_, breakIt) => {
    const body = validBody();
    breakIt(body);
    const response = await call("PUT", { body });

    expect(response.status).toBe(400);
    const error = ((await response.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("BadRequest");
    expect(error.message).not.toBe("");
    expect(arm.incidents.size).toBe(0);
    expect(arm.violations).toHaveLength(1);
  });

  it("answers 429 with Retry-After, or 500, when told to, and only then serves", async () => {
    const answers = [throttled(3), serverError()];
    arm.fault = () => answers.shift();

    const first = await call("PUT");
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("3");
    expect((await call("PUT")).status).toBe(500);
    expect(arm.incidents.size).toBe(0);
    expect((await call("PUT")).status).toBe(201);
    expect(arm.violations).toEqual([]);
  });

  it("never answers a request it is told to hang on, storing the incident only if the fault serves it", async () => {
    arm.fault = () => HANG;
    await expect(call("PUT", { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect(arm.incidents.size).toBe(0);

    arm.fault = (_request, _id, serve) => {
      serve();
      return HANG;
    };
    await expect(call("PUT", { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect([...arm.incidents.keys()]).toEqual([ID]);
    expect(arm.violations).toEqual([]);
  });
});
