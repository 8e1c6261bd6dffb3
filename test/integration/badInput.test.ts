import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runOnce } from "../../src/app.js";
import { main } from "../../src/cli.js";
import { loadConfig, SETTINGS } from "../../src/config.js";
import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import { SERVICE_ROW_LIMIT } from "../../src/hunt/source.js";
import type { Logger, RunSummary } from "../../src/run.js";
import { fromIdentityEntity } from "../../src/state/records.js";
import { exitCodeOf } from "../../src/summary.js";
import { openUrls } from "../helpers/cards.js";
import type { CapturedOutput } from "../helpers/output.js";
import { captureOutput } from "../helpers/output.js";
import { sampleDay } from "../helpers/sampleDays.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";
import { DAY_1, DAY_2, entitiesOf, identityRows, outboxFiles, readJson, samplePath } from "../helpers/tables.js";
import { messageProblems, TEAMS_MAX_BYTES } from "../helpers/teamsPeer.js";

/**
 * The bad input catalogue: one test per kind of bad hunt result or setting. A result the detector cannot
 * trust fails the run with a message naming the column, row or ServicePrincipalId, and leaves the identity
 * rows and the outbox exactly as they were. Strings an attacker chooses (names, change types, resources...)
 * are not bad input but hostile input: the run goes ahead and every delivery shows them inert and bounded.
 */

interface RestBody {
  tables: { name: string; columns: { name: string; type?: string }[]; rows: unknown[][] }[];
}

let dir: string;
let table: string;
let outbox: string;
let logged: string[];
const log: Logger = {
  info: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  error: (m) => logged.push(m),
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "stale-mi-bad-"));
  table = uniqueTableName("bad");
  outbox = join(dir, "outbox");
  logged = [];
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function run(replay: string, now: Date): Promise<RunSummary> {
  const config = loadConfig(
    { HUNT_LOOKBACK_DAYS: "365", STATE_TABLE_NAME: table, NOTIFY_CHANNELS: "teams,sentinel" },
    { replay: true, outbox: true },
  );
  return await runOnce(
    config,
    { replay, outbox, state: { kind: "connection", connectionString: azuriteConnectionString() }, now },
    log,
  );
}

const day2 = (): RestBody => readJson(samplePath(2)) as RestBody;
/** Day 2's shape, from the file, so the messages below follow the samples. */
const { columns: COLUMNS, rows: ROWS } = sampleDay(2);
const columnIndex = (body: RestBody, name: string) => body.tables[0]?.columns.findIndex((c) => c.name === name) ?? -1;
const rowsOf = (body: RestBody): unknown[][] => body.tables[0]?.rows ?? [];
const idOfRow = (body: RestBody, i: number) => String(rowsOf(body)[i]?.[columnIndex(body, "ServicePrincipalId")]);

function write(name: string, content: string | RestBody): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/** A bad result, as day 2 after a good day 1: the run fails with `message`, and nothing it left changes. */
async function expectRejected(replay: string, message: string) {
  await run(samplePath(1), DAY_1);
  const rowsBefore = await identityRows(table);
  const filesBefore = outboxFiles(outbox);

  const failed = await run(replay, DAY_2);

  expect(failed.status).toBe("failed");
  expect(exitCodeOf(failed)).toBe(1);
  expect(failed.error).toContain(message);
  expect(failed.error).toContain(replay);
  expect(failed.delivered).toEqual({ teams: 0, sentinel: 0 });
  expect(await identityRows(table)).toEqual(rowsBefore);
  expect(outboxFiles(outbox)).toEqual(filesBefore);
  // The failed run is recorded as such, with its reason.
  const records = (await entitiesOf(table)).filter((e) => e.partitionKey === "run" && e.rowKey !== "lease");
  expect(records.map((r) => r.Status).sort()).toEqual(["done", "failed"]);
}

describe("bad hunt results: the run fails naming the problem and changes nothing", () => {
  it("malformed JSON", async () => {
    const replay = write("malformed.json", '{"tables":[{"name":"PrimaryResult","columns":[');
    await expectRejected(replay, `The hunt failed on replay file ${replay}: could not read it as JSON (`);
  });

  it("JSON of another shape", async () => {
    const replay = write("shape.json", '{"value":[]}');
    await expectRejected(replay, 'expected {"tables":[{"columns":[...],"rows":[...]}]} or an array of rows');
  });

  it("a missing column", async () => {
    const body = day2();
    const index = columnIndex(body, "LastSignin");
    body.tables[0]?.columns.splice(index, 1);
    for (const row of rowsOf(body)) row.splice(index, 1);
    await expectRejected(write("missing.json", body), "column LastSignin (datetime) is missing");
  });

  it("a column declared twice", async () => {
    const body = day2();
    body.tables[0]?.columns.push({ name: "RiskSignal", type: "string" });
    for (const row of rowsOf(body)) row.push("CredOrRoleChangeOnStaleIdentity");
    await expectRejected(write("twice.json", body), "column RiskSignal appears twice");
  });

  it("an extra value in a row", async () => {
    const body = day2();
    rowsOf(body)[1]?.push("surplus");
    await expectRejected(
      write("extra-value.json", body),
      `row 2: expected ${COLUMNS} values, got an array of ${COLUMNS + 1}`,
    );
  });

  it("a value missing from a row", async () => {
    const body = day2();
    rowsOf(body)[2]?.pop();
    await expectRejected(
      write("short-row.json", body),
      `row 3: expected ${COLUMNS} values, got an array of ${COLUMNS - 1}`,
    );
  });

  it("a column of the wrong declared type", async () => {
    const body = day2();
    const column = body.tables[0]?.columns[columnIndex(body, "TotalSignins")];
    if (column) column.type = "string";
    await expectRejected(write("column-type.json", body), "column TotalSignins has type string, expected long");
  });

  it("a value of the wrong type", async () => {
    const body = day2();
    const row = rowsOf(body)[3];
    if (row) row[columnIndex(body, "DaysSinceSignin")] = "many";
    await expectRejected(
      write("value-type.json", body),
      `row 4 (ServicePrincipalId ${idOfRow(body, 3)}): column DaysSinceSignin: expected a whole number, got "many"`,
    );
  });

  it("a datetime that is not one", async () => {
    const body = day2();
    const row = rowsOf(body)[0];
    if (row) row[columnIndex(body, "LastAzureOp")] = "yesterday";
    await expectRejected(
      write("datetime.json", body),
      `row 1 (ServicePrincipalId ${idOfRow(body, 0)}): column LastAzureOp: expected an ISO 8601 datetime, got "yesterday"`,
    );
  });

  it("a null ServicePrincipalId", async () => {
    const body = day2();
    const row = rowsOf(body)[4];
    if (row) row[columnIndex(body, "ServicePrincipalId")] = null;
    await expectRejected(write("null-id.json", body), "row 5: ServicePrincipalId is empty");
  });

  it("an empty ServicePrincipalId", async () => {
    const body = day2();
    const row = rowsOf(body)[5];
    if (row) row[columnIndex(body, "ServicePrincipalId")] = "";
    await expectRejected(write("empty-id.json", body), "row 6: ServicePrincipalId is empty");
  });

  it("duplicate identities (the same ServicePrincipalId in another case)", async () => {
    const body = day2();
    const copy = [...(rowsOf(body)[0] ?? [])];
    const id = idOfRow(body, 0).toUpperCase();
    copy[columnIndex(body, "ServicePrincipalId")] = id;
    rowsOf(body).push(copy);
    await expectRejected(
      write("duplicate.json", body),
      `row ${ROWS + 1} (ServicePrincipalId ${id}): ServicePrincipalId duplicates row 1`,
    );
  });

  it("500,000 rows: the service's row limit, so the result is truncated", async () => {
    // Built as text: half a million row arrays through JSON.stringify would only slow the test down.
    const columns = JSON.stringify(day2().tables[0]?.columns);
    // The limit is checked before any row is read, so the rows can be as small as a row of the hunt's shape is.
    const row = JSON.stringify(HUNT_COLUMNS.map(() => null));
    const replay = write(
      "limit.json",
      `{"tables":[{"name":"PrimaryResult","columns":${columns},"rows":[${`${row},`.repeat(SERVICE_ROW_LIMIT - 1)}${row}]}]}`,
    );
    await expectRejected(
      replay,
      `the result has ${SERVICE_ROW_LIMIT} rows, the service's limit of ${SERVICE_ROW_LIMIT}`,
    );
  });
});

/** Markup that would do something if any channel rendered it: a script, a tag, a link, emphasis, a mention. */
const INJECTIONS = [
  "<script>alert(1)</script>",
  '<img src=x onerror="alert(1)">',
  "[Reset your password](https://evil.example/login)",
  "**URGENT** _act_ `now` ~~x~~ | a | b |",
  "<at>General</at> @everyone",
  "javascript:alert(document.cookie)",
];
const INJECTED = INJECTIONS.join(" ");

/** One day's result with `finding` as the only row, over the hunt's columns (and any extra ones). */
function singleRow(values: Record<string, unknown>, extraColumns: { name: string; type: string }[] = []): RestBody {
  const base = day2();
  // A risky row, so that it is delivered on both channels.
  const signal = columnIndex(base, "RiskSignal");
  const template = rowsOf(base).find((row) => row[signal]) ?? [];
  const columns = [...(base.tables[0]?.columns ?? []), ...extraColumns];
  const row = columns.map((c, i) => (c.name in values ? values[c.name] : template[i]));
  return { tables: [{ name: "PrimaryResult", columns, rows: [row] }] };
}

/** The single run's Teams message and Sentinel incident, as the outbox holds them. */
function deliveries(): { card: Record<string, unknown>; cardText: string; incident: Record<string, unknown> } {
  const files = outboxFiles(outbox);
  expect(files.teams).toHaveLength(1);
  expect(files.sentinel).toHaveLength(1);
  const cardText = readFileSync(join(outbox, "teams", files.teams[0] ?? ""), "utf8");
  const incident = (readJson(join(outbox, "sentinel", files.sentinel[0] ?? "")) as { properties: object }).properties;
  return {
    card: JSON.parse(cardText) as Record<string, unknown>,
    cardText,
    incident: incident as Record<string, unknown>,
  };
}

/** What makes text active in Sentinel's renderers (HTML, markdown), and a live URL scheme from the logs. */
function expectInertIncident(incident: Record<string, unknown>) {
  const labels = (incident.labels as { labelName: string }[]).map((l) => l.labelName).join(" ");
  // The description's own last line links the identity; its URL is the builder's, with a "~" of its own.
  const description = String(incident.description).replace(/^Open in Entra admin center: https:\/\/\S+$/m, "");
  for (const text of [String(incident.title), description, labels]) {
    expect(text).not.toMatch(/[<>[\]*`|~]/);
    expect(text).not.toContain("https://evil.example");
  }
  expect(String(incident.description).length).toBeLessThanOrEqual(5000);
}

function expectInertCard(card: Record<string, unknown>, cardText: string, hostile: readonly string[]) {
  // Only TextRuns (plain text in Teams) may show hostile text; no TextBlock or Fact, which render markdown.
  expect(messageProblems(card, hostile)).toEqual([]);
  expect(Buffer.byteLength(cardText)).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
  expect(cardText).not.toContain("https://evil.example");
  for (const url of openUrls(card)) expect(url).toMatch(/^https:\/\/(entra\.microsoft\.com|portal\.azure\.com)\//);
}

const STRING_COLUMNS = HUNT_COLUMNS.filter((c) => c.type === "string" || c.type === "dynamic").map((c) => c.name);

describe("hostile strings: accepted, and inert and bounded in every delivery", () => {
  it.each(STRING_COLUMNS)("markdown, HTML and script injections in %s", async (column) => {
    const type = HUNT_COLUMNS.find((c) => c.name === column)?.type;
    const value = type === "dynamic" ? JSON.stringify(INJECTIONS) : INJECTED;
    const summary = await run(write("injected.json", singleRow({ [column]: value })), DAY_2);

    expect(summary.status).toBe("done");
    expect(summary.delivered).toEqual({ teams: 1, sentinel: 1 });
    const { card, cardText, incident } = deliveries();
    expectInertCard(card, cardText, INJECTIONS);
    expectInertIncident(incident);
    for (const row of await identityRows(table)) expect(() => fromIdentityEntity(row)).not.toThrow();
  });

  it("markdown, HTML and script injections in a column a detection engineer added", async () => {
    const replay = write(
      "extra-column.json",
      singleRow({ OwnerNote: INJECTED }, [{ name: "OwnerNote", type: "string" }]),
    );
    const summary = await run(replay, DAY_2);

    expect(summary.status).toBe("done");
    const { card, cardText, incident } = deliveries();
    // An added column is kept as evidence and shown, by its name.
    expect(cardText).toContain("OwnerNote");
    expectInertCard(card, cardText, INJECTIONS);
    expectInertIncident(incident);
  });

  it("control and bidirectional characters in the display name", async () => {
    const name = "mi-\u0000payroll\u0007\u001b[31m\u202egnp.exe\u2066\u200b\ufeff-prod\r\nInjected: line";
    const summary = await run(write("control.json", singleRow({ ServicePrincipalName: name })), DAY_2);

    expect(summary.status).toBe("done");
    const { cardText, incident } = deliveries();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters that must not arrive
    const invisible = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
    // Every string Teams would get, as it reads the JSON.
    const strings: string[] = [];
    JSON.parse(cardText, (_key, value) => {
      if (typeof value === "string") strings.push(value);
      return value;
    });
    expect(strings.filter((s) => invisible.test(s))).toEqual([]);
    expect(String(incident.title)).not.toMatch(invisible);
    // Lines are the builder's own; none carries a character from the name that hides or reorders text.
    for (const line of String(incident.description).split("\n")) expect(line).not.toMatch(invisible);
    expect(String(incident.title)).toContain("mi- payroll");
  });

  it("a 1 MB display name", async () => {
    const name = `mi-${"A".repeat(1024 * 1024)}`;
    const summary = await run(write("huge.json", singleRow({ ServicePrincipalName: name })), DAY_2);

    expect(summary.status).toBe("done");
    const { card, cardText, incident } = deliveries();
    expectInertCard(card, cardText, []);
    // Cards show names cut to 128 characters with an ellipsis; the incident bounds its title too.
    expect(cardText).toContain(`mi-${"A".repeat(124)}…`);
    expect(cardText).not.toContain("A".repeat(200));
    expect(String(incident.title).length).toBeLessThanOrEqual(256);
    // The state row stays far inside Table Storage's 64 KiB property limit and reads back.
    const [row] = await identityRows(table);
    expect(String(row?.Finding).length).toBeLessThanOrEqual(30_000);
    expect(fromIdentityEntity(row as Record<string, unknown>).finding.servicePrincipalName.length).toBeLessThanOrEqual(
      512,
    );
  });
});

describe("every invalid setting: exit 2 naming it, no state touched", () => {
  /** A value each setting refuses, and the exact line the CLI prints for it. */
  const BAD: Record<string, [string, string]> = {
    LOG_ANALYTICS_WORKSPACE_ID: ["not-a-guid", 'LOG_ANALYTICS_WORKSPACE_ID: expected a GUID, got "not-a-guid"'],
    AZURE_CLOUD: ["mars", 'AZURE_CLOUD: expected public, usgov or china, got "mars"'],
    LOG_ANALYTICS_ENDPOINT: [
      "http://api.example/v1",
      'LOG_ANALYTICS_ENDPOINT: expected an https URL (plain http only on loopback), got "http://api.example/v1"',
    ],
    AZURE_CLIENT_ID: ["1234", 'AZURE_CLIENT_ID: expected a GUID, got "1234"'],
    HUNT_LOOKBACK_DAYS: ["731", 'HUNT_LOOKBACK_DAYS: expected a whole number from 1 to 730, got "731"'],
    HUNT_STALE_THRESHOLD_DAYS: ["0", 'HUNT_STALE_THRESHOLD_DAYS: expected a whole number from 1 to 179, got "0"'],
    HUNT_ALLOWLISTED_IP_RANGES: [
      "10.0.0.0/8, 10.0.0.0/33",
      'HUNT_ALLOWLISTED_IP_RANGES: "10.0.0.0/33" is not an IPv4 CIDR range such as 10.0.0.0/8',
    ],
    HUNT_SERVER_TIMEOUT_SECONDS: [
      "601",
      'HUNT_SERVER_TIMEOUT_SECONDS: expected a whole number from 1 to 600, got "601"',
    ],
    STATE_TABLE_ENDPOINT: [
      "https://acct.table.core.windows.net/?sv=2024-01-01&sig=SASSECRET",
      "STATE_TABLE_ENDPOINT: must be a bare endpoint, without credentials, query or fragment (value not shown, as it may hold a SAS token)",
    ],
    STATE_CONNECTION: [
      "AccountName=acct;Password=CONNSECRET",
      "STATE_CONNECTION: not a storage connection string (expected UseDevelopmentStorage=true, or AccountName=...;AccountKey=... or a TableEndpoint with a SharedAccessSignature); value not shown",
    ],
    STATE_TABLE_NAME: [
      "my-table",
      'STATE_TABLE_NAME: "my-table" is not a valid table name (3-63 letters or digits, starting with a letter)',
    ],
    NOTIFY_CHANNELS: ["teams,email", 'NOTIFY_CHANNELS: unknown channel "email" (known: teams, sentinel, or none)'],
    TEAMS_WEBHOOK_URL: [
      "http://hooks.example/workflows/1?sig=HOOKSECRET",
      "TEAMS_WEBHOOK_URL: expected an https URL (plain http only on loopback) (value not shown: it is a secret)",
    ],
    SENTINEL_WORKSPACE_RESOURCE_ID: [
      "/subscriptions/x/workspaces/y",
      'SENTINEL_WORKSPACE_RESOURCE_ID: expected /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>, got "/subscriptions/x/workspaces/y"',
    ],
    SENTINEL_SEVERITY_MAP: [
      "MyNewSignal=Urgent",
      'SENTINEL_SEVERITY_MAP: "MyNewSignal=Urgent" is not Signal=Severity with a severity of High, Medium, Low, Informational',
    ],
    ARM_ENDPOINT: [
      "ftp://management.example",
      'ARM_ENDPOINT: expected an https URL (plain http only on loopback), got "ftp://management.example"',
    ],
    GRAPH_ENDPOINT: ["not a url", 'GRAPH_ENDPOINT: expected an absolute URL, got "not a url"'],
    GRAPH_ENRICHMENT: ["maybe", 'GRAPH_ENRICHMENT: expected on or off, got "maybe"'],
    AUTHORITY_HOST: [
      "http://login.example",
      'AUTHORITY_HOST: expected an https URL (plain http only on loopback), got "http://login.example"',
    ],
    TIMER_SCHEDULE: [
      "0 6 * * *",
      'TIMER_SCHEDULE: expected an NCRONTAB expression with six fields (seconds first), got "0 6 * * *"',
    ],
    RUN_TIME_BUDGET_SECONDS: ["10", 'RUN_TIME_BUDGET_SECONDS: expected a whole number from 30 to 3600, got "10"'],
  };
  const SECRETS = ["SASSECRET", "CONNSECRET", "HOOKSECRET"];

  let savedEnv: NodeJS.ProcessEnv;
  let savedCwd: string;
  let output: CapturedOutput;

  beforeEach(() => {
    savedEnv = { ...process.env };
    for (const { name } of SETTINGS) delete process.env[name];
    savedCwd = process.cwd();
    // No local.settings.json: only the settings a test sets.
    process.chdir(dir);
    output = captureOutput();
  });

  afterEach(() => {
    vi.restoreAllMocks();
    process.chdir(savedCwd);
    process.env = savedEnv;
  });

  it("has a case for every setting the detector reads", () => {
    expect(Object.keys(BAD).sort()).toEqual(SETTINGS.map((s) => s.name).sort());
  });

  it.each(Object.entries(BAD))("%s", async (name, [value, message]) => {
    const tableName = uniqueTableName("badsetting");
    process.env.STATE_TABLE_NAME = tableName;
    process.env.HUNT_LOOKBACK_DAYS = "365";
    process.env[name] = value;

    const code = await main([
      "run",
      "--replay",
      samplePath(1),
      "--state-connection",
      azuriteConnectionString(),
      "--outbox",
      outbox,
      "--json",
    ]);

    expect(code).toBe(2);
    expect(output.stderr).toBe(`stale-mi: Invalid settings:\n  - ${message}\n`);
    expect(output.stdout).toBe("");
    for (const secret of SECRETS) expect(output.stderr).not.toContain(secret);
    expect(await entitiesOf(tableName)).toEqual([]);
    expect(outboxFiles(outbox)).toEqual({ teams: [], sentinel: [] });
  });
});
