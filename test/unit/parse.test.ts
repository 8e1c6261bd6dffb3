import { describe, expect, it } from "vitest";
import type { Finding } from "../../src/hunt/finding.js";
import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import type { RawTable } from "../../src/hunt/parse.js";
import { HuntResultError, parseFindings } from "../../src/hunt/parse.js";
import { HuntSourceError, replayTable } from "../../src/hunt/source.js";
import { huntColumns } from "../helpers/logAnalytics.js";

const SOURCE = "replay file test.json";
const ID_A = "1d281b86-1fc2-4cc1-86ea-cb952783f4ba";
const ID_B = "7c0e4a52-93b1-4f0d-a6e2-5b8f1c3d9e70";

/** One REST-shaped row's values by column name: dynamic values as JSON text, datetimes as ISO text. */
const restValues: Record<string, unknown> = {
  ServicePrincipalId: ID_A,
  ServicePrincipalName: "vm-build-agent-03",
  StalenessCategory: "Abandoned (180d+)",
  DaysSinceSignin: 274,
  LastSignin: "2026-03-02T01:09:44.7781203Z",
  TotalSignins: 912,
  UniqueResources: 2,
  LastResource: "Azure Resource Manager",
  RecentChanges: 2,
  ChangeTypes: '["Add owner to service principal","Add app role assignment"]',
  LastChange: "2026-11-20T09:00:00Z",
  ChangedBy: '["admin@contoso.example"]',
  AzureOpsCount: 0,
  LastAzureOp: null,
  AzureResources: "[]",
  AzureOperations: null,
  RiskSignal: "CredOrRoleChangeOnStaleIdentity",
  IPAddresses: '["10.1.2.3"]',
  DiscoveredBy: "SignInLogs",
};

const expectedFinding: Finding = {
  servicePrincipalId: ID_A,
  servicePrincipalName: "vm-build-agent-03",
  stalenessCategory: "Abandoned (180d+)",
  daysSinceSignin: 274,
  lastSignin: "2026-03-02T01:09:44.778Z",
  totalSignins: 912,
  uniqueResources: 2,
  lastResource: "Azure Resource Manager",
  recentChanges: 2,
  changeTypes: ["Add owner to service principal", "Add app role assignment"],
  lastChange: "2026-11-20T09:00:00.000Z",
  changedBy: ["admin@contoso.example"],
  azureOpsCount: 0,
  lastAzureOp: null,
  azureResources: [],
  azureOperations: [],
  riskSignal: "CredOrRoleChangeOnStaleIdentity",
  ipAddresses: ["10.1.2.3"],
  discoveredBy: "SignInLogs",
  extra: {},
};

/** A row in HUNT_COLUMNS order, with values overridden by column name. */
function row(overrides: Record<string, unknown> = {}): unknown[] {
  const values = { ...restValues, ...overrides };
  return HUNT_COLUMNS.map((c) => values[c.name]);
}

function table(rows: unknown[][], columns: RawTable["columns"] = huntColumns()): RawTable {
  return { columns, rows };
}

/** The problems parseFindings reports; fails the test if it returns findings instead. */
function problemsOf(raw: RawTable): string[] {
  let findings: Finding[] | undefined;
  try {
    findings = parseFindings(raw, SOURCE);
  } catch (error) {
    expect(error).toBeInstanceOf(HuntResultError);
    expect(findings).toBeUndefined();
    return (error as HuntResultError).problems;
  }
  throw new Error(`expected a HuntResultError, got ${findings.length} findings`);
}

describe("parseFindings of a valid table", () => {
  it("turns a REST-shaped row into the expected Finding", () => {
    expect(parseFindings(table([row()]), SOURCE)).toEqual([expectedFinding]);
  });

  it("returns an empty list for a table without rows", () => {
    expect(parseFindings(table([]), SOURCE)).toEqual([]);
  });

  const accepted: {
    case: string;
    columns?: RawTable["columns"];
    overrides: Record<string, unknown>;
    expected: Partial<Finding>;
  }[] = [
    {
      case: "an int column where long is expected",
      columns: huntColumns().map((c) => (c.name === "TotalSignins" ? { ...c, type: "int" } : c)),
      overrides: { TotalSignins: 7 },
      expected: { totalSignins: 7 },
    },
    {
      case: "columns without declared types, as a portal export gives",
      columns: HUNT_COLUMNS.map(({ name }) => ({ name })),
      overrides: {},
      expected: { totalSignins: 912, changeTypes: ["Add owner to service principal", "Add app role assignment"] },
    },
    {
      case: "an unknown RiskSignal value, kept as is",
      overrides: { RiskSignal: "SomeSignalAddedLater" },
      expected: { riskSignal: "SomeSignalAddedLater" },
    },
    {
      case: "an empty RiskSignal, meaning tracked without a signal",
      overrides: { RiskSignal: "" },
      expected: { riskSignal: "" },
    },
    {
      case: "a null RiskSignal, read as empty",
      overrides: { RiskSignal: null },
      expected: { riskSignal: "" },
    },
    {
      case: "a never-signed-in identity with an empty datetime",
      overrides: { LastSignin: "", TotalSignins: 0, StalenessCategory: "NeverSignedIn" },
      expected: { lastSignin: null, totalSignins: 0, stalenessCategory: "NeverSignedIn" },
    },
    {
      case: "values already parsed by the SDK: Date objects and arrays",
      overrides: { LastSignin: new Date("2026-03-02T01:09:44Z"), ChangedBy: ["a@contoso.example", 42, true] },
      expected: { lastSignin: "2026-03-02T01:09:44.000Z", changedBy: ["a@contoso.example", "42", "true"] },
    },
    {
      case: "a ServicePrincipalId with spaces around it, trimmed",
      overrides: { ServicePrincipalId: `  ${ID_A} ` },
      expected: { servicePrincipalId: ID_A },
    },
  ];

  it.each(accepted)("accepts $case", ({ columns, overrides, expected }) => {
    const [finding] = parseFindings(table([row(overrides)], columns), SOURCE);
    expect(finding).toMatchObject(expected);
  });

  it("keeps extra columns in finding.extra under their names, parsing dynamic JSON text", () => {
    const columns = [
      ...huntColumns(),
      { name: "OwnerTeam", type: "string" },
      { name: "Tags", type: "dynamic" },
      { name: "Scopes", type: "dynamic" },
      { name: "Note", type: "dynamic" },
      { name: "RoleCount", type: "long" },
    ];
    const values = [...row(), "platform", '{"env":"prod","cost":"cc-12"}', '["/subscriptions/a"]', "not json", 3];
    const [finding] = parseFindings(table([values], columns), SOURCE);
    expect(finding?.extra).toEqual({
      OwnerTeam: "platform",
      Tags: { env: "prod", cost: "cc-12" },
      Scopes: ["/subscriptions/a"],
      Note: "not json",
      RoleCount: 3,
    });
    expect({ ...finding, extra: {} }).toEqual(expectedFinding);
  });

  it("finds every column by name, whatever order the table gives them in", () => {
    const columns = huntColumns().reverse();
    const values = row().reverse();
    expect(parseFindings(table([values], columns), SOURCE)).toEqual([expectedFinding]);
  });
});

describe("parseFindings failures", () => {
  const withoutColumn = (name: string): RawTable => {
    const index = HUNT_COLUMNS.findIndex((c) => c.name === name);
    return table(
      [row().filter((_, i) => i !== index)],
      huntColumns().filter((c) => c.name !== name),
    );
  };

  const cases: { case: string; table: RawTable; names: string[] }[] = [
    {
      case: "a missing column",
      table: withoutColumn("LastChange"),
      names: ["column LastChange (datetime) is missing"],
    },
    {
      case: "a duplicated column",
      table: table([[...row(), "again"]], [...huntColumns(), { name: "RiskSignal", type: "string" }]),
      names: ["column RiskSignal appears twice"],
    },
    {
      case: "a column of the wrong declared type",
      table: table(
        [row()],
        huntColumns().map((c) => (c.name === "DaysSinceSignin" ? { ...c, type: "string" } : c)),
      ),
      names: ["column DaysSinceSignin has type string, expected long"],
    },
    {
      case: "a datetime column declared as string",
      table: table(
        [row()],
        huntColumns().map((c) => (c.name === "LastSignin" ? { ...c, type: "string" } : c)),
      ),
      names: ["column LastSignin has type string, expected datetime"],
    },
    {
      case: "an empty ServicePrincipalId",
      table: table([row({ ServicePrincipalId: ID_B }), row({ ServicePrincipalId: "  " })]),
      names: ["row 2: ServicePrincipalId is empty"],
    },
    {
      case: "a null ServicePrincipalId",
      table: table([row({ ServicePrincipalId: null })]),
      names: ["row 1: ServicePrincipalId is empty"],
    },
    {
      case: "a ServicePrincipalId duplicated in another case",
      table: table([row(), row({ ServicePrincipalId: ID_B }), row({ ServicePrincipalId: ID_A.toUpperCase() })]),
      names: [`row 3 (ServicePrincipalId ${ID_A.toUpperCase()}): ServicePrincipalId duplicates row 1`],
    },
    {
      case: "a fractional long",
      table: table([row({ TotalSignins: 1.5 })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column TotalSignins: expected a whole number, got number 1.5`],
    },
    {
      case: "a long given as text",
      table: table([row({ DaysSinceSignin: "274" })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column DaysSinceSignin: expected a whole number, got "274"`],
    },
    {
      case: "a null long",
      table: table([row({ AzureOpsCount: null })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column AzureOpsCount: expected a whole number, got null`],
    },
    {
      case: "an unparseable datetime",
      table: table([row({ LastSignin: "last Tuesday-ish" })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column LastSignin: expected an ISO 8601 datetime`],
    },
    {
      case: "a datetime given as a number",
      table: table([row({ LastChange: 1_700_000_000 })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column LastChange: expected an ISO 8601 datetime`],
    },
    {
      case: "a dynamic object where an array is expected",
      table: table([row({ ChangeTypes: '{"type":"Add owner"}' })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column ChangeTypes: expected an array`],
    },
    {
      case: "a dynamic plain string where an array is expected",
      table: table([row({ IPAddresses: "10.1.2.3" })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column IPAddresses: expected an array`],
    },
    {
      case: "a dynamic array holding objects",
      table: table([row({ ChangedBy: '[{"upn":"a@contoso.example"}]' })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column ChangedBy: expected an array of strings`],
    },
    {
      case: "a string column given a number",
      table: table([row({ ServicePrincipalName: 5 })]),
      names: [`row 1 (ServicePrincipalId ${ID_A}): column ServicePrincipalName: expected a string`],
    },
    {
      case: "a row with one value too few",
      table: table([row(), row({ ServicePrincipalId: ID_B }).slice(1)]),
      names: [`row 2: expected ${HUNT_COLUMNS.length} values, got an array of ${HUNT_COLUMNS.length - 1}`],
    },
    {
      case: "a row with one value too many",
      table: table([[...row(), "extra"]]),
      names: [`row 1: expected ${HUNT_COLUMNS.length} values, got an array of ${HUNT_COLUMNS.length + 1}`],
    },
    {
      case: "a row that is not an array",
      table: table([null as unknown as unknown[]]),
      names: [`row 1: expected ${HUNT_COLUMNS.length} values, got null`],
    },
  ];

  it.each(cases)("rejects $case with one problem naming the column or row", ({ table: raw, names }) => {
    expect(problemsOf(raw)).toEqual(names.map((name) => expect.stringContaining(name)));
  });

  it("names both rows of a duplicate, the later one with the id as it was given", () => {
    const [problem] = problemsOf(table([row({ ServicePrincipalId: ID_A.toUpperCase() }), row()]));
    expect(problem).toBe(`row 2 (ServicePrincipalId ${ID_A}): ServicePrincipalId duplicates row 1`);
  });

  it("reports every missing column and wrong type together, before reading any row", () => {
    const columns = huntColumns()
      .filter((c) => c.name !== "RiskSignal" && c.name !== "IPAddresses")
      .map((c) => (c.name === "ChangeTypes" ? { ...c, type: "string" } : c));
    expect(problemsOf(table([["not", "a", "row"]], columns))).toEqual([
      "column ChangeTypes has type string, expected dynamic",
      "column RiskSignal (string) is missing",
      "column IPAddresses (dynamic) is missing",
    ]);
  });

  it("reports several bad rows in one error and returns no finding, not even the good rows", () => {
    const raw = table([
      row({ ServicePrincipalId: ID_B }),
      row({ TotalSignins: -0.5, LastSignin: "soon" }),
      row({ ServicePrincipalId: "" }),
      row({ ServicePrincipalId: ID_B.toUpperCase() }),
      [ID_A],
    ]);
    expect(problemsOf(raw)).toEqual([
      `row 2 (ServicePrincipalId ${ID_A}): column LastSignin: expected an ISO 8601 datetime, got "soon"`,
      `row 2 (ServicePrincipalId ${ID_A}): column TotalSignins: expected a whole number, got number -0.5`,
      "row 3: ServicePrincipalId is empty",
      `row 4 (ServicePrincipalId ${ID_B.toUpperCase()}): ServicePrincipalId duplicates row 1`,
      `row 5: expected ${HUNT_COLUMNS.length} values, got an array of 1`,
    ]);
  });

  it("names the source and lists the first 20 problems in its message, keeping all of them in problems", () => {
    const rows = Array.from({ length: 25 }, (_, i) => row({ ServicePrincipalId: `sp-${i + 1}`, TotalSignins: "x" }));
    let caught: unknown;
    try {
      parseFindings(table(rows), SOURCE);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HuntResultError);
    const error = caught as HuntResultError;
    expect(error.problems).toHaveLength(25);
    expect(error.message).toContain(`The hunt result from ${SOURCE} is not usable, so nothing was changed or sent`);
    expect(error.message).toContain("row 20 (ServicePrincipalId sp-20)");
    expect(error.message).not.toContain("row 21 (ServicePrincipalId sp-21)");
    expect(error.message).toContain("... and 5 more");
  });
});

describe("replayTable", () => {
  const restBody = { tables: [{ name: "PrimaryResult", columns: huntColumns(), rows: [row()] }] };
  /** A portal export: one object per row, dynamic values already parsed, no types. */
  const exportRow = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    ...Object.fromEntries(HUNT_COLUMNS.map((c) => [c.name, restValues[c.name]])),
    ChangeTypes: ["Add owner to service principal", "Add app role assignment"],
    ...overrides,
  });

  it.each([
    { case: "the Log Analytics REST body", body: restBody },
    { case: "a JSON array of row objects without types", body: [exportRow()] },
  ])("reads $case into a table the parser turns into the expected Finding", ({ body }) => {
    expect(parseFindings(replayTable(body, SOURCE), SOURCE)).toEqual([expectedFinding]);
  });

  it("takes a row-object array's column names from its first row, leaving types out", () => {
    const raw = replayTable([exportRow(), exportRow({ ServicePrincipalId: ID_B })], SOURCE);
    expect(raw.columns).toEqual(HUNT_COLUMNS.map(({ name }) => ({ name })));
    expect(raw.rows).toHaveLength(2);
    expect(raw.rows[1]?.[0]).toBe(ID_B);
  });

  it("keeps the REST body's declared types, and none where a column declares none", () => {
    const raw = replayTable(
      { tables: [{ columns: [{ name: "A", type: "long" }, { name: "B" }], rows: [[1, 2]] }] },
      SOURCE,
    );
    expect(raw).toEqual({
      columns: [
        { name: "A", type: "long" },
        { name: "B", type: undefined },
      ],
      rows: [[1, 2]],
    });
  });

  it("reads an empty array as a table without columns, which the parser then rejects column by column", () => {
    const raw = replayTable([], SOURCE);
    expect(raw).toEqual({ columns: [], rows: [] });
    expect(problemsOf(raw)).toHaveLength(HUNT_COLUMNS.length);
  });

  const failures: { case: string; body: unknown; says: string }[] = [
    {
      case: "a row-object array whose second row lacks a key",
      body: [exportRow(), (({ RiskSignal: _, ...rest }) => rest)(exportRow())],
      says: "row 2 has other columns than row 1 (some are missing)",
    },
    {
      case: "a row-object array whose third row has another key",
      body: [exportRow(), exportRow(), exportRow({ Surprise: 1 })],
      says: "row 3 has other columns than row 1 (Surprise)",
    },
    {
      case: "a row-object array holding a row that is not an object",
      body: [exportRow(), [1, 2, 3]],
      says: "row 2 is not an object",
    },
    { case: "an array of arrays", body: [row()], says: "a JSON array replay must hold row objects" },
    { case: "an array of strings", body: ["a"], says: "a JSON array replay must hold row objects" },
    { case: "an object without tables", body: { value: [] }, says: 'expected {"tables":' },
    { case: "an empty tables list", body: { tables: [] }, says: 'expected {"tables":' },
    { case: "null", body: null, says: 'expected {"tables":' },
    { case: "a string", body: "tables", says: 'expected {"tables":' },
    { case: "a number", body: 42, says: 'expected {"tables":' },
    {
      case: "a table without rows",
      body: { tables: [{ columns: huntColumns() }] },
      says: "the first table needs a columns array and a rows array",
    },
    {
      case: "a table whose columns are not an array",
      body: { tables: [{ columns: "ServicePrincipalId", rows: [] }] },
      says: "the first table needs a columns array and a rows array",
    },
    {
      case: "a column without a name",
      body: { tables: [{ columns: [{ name: "A" }, { type: "string" }], rows: [] }] },
      says: "column 2 has no name",
    },
  ];

  it.each(failures)("rejects $case, naming the replay", ({ body, says }) => {
    let caught: unknown;
    try {
      replayTable(body, SOURCE);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HuntSourceError);
    expect((caught as Error).message).toContain(SOURCE);
    expect((caught as Error).message).toContain(says);
  });
});
