import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { HuntParameters } from "../../src/config.js";
import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import { loadHuntTemplate, renderHunt } from "../../src/hunt/query.js";
import { analyzeKql, loadShippedSchemas } from "../kusto/analyze.js";

const schemas = loadShippedSchemas();
const expectedColumns = HUNT_COLUMNS.map(({ name, type }) => ({ name, type }));
const seed = readFileSync(new URL("../fixtures/seed.kql", import.meta.url), "utf8");

const defaults: HuntParameters = { lookbackDays: 180, staleThresholdDays: 90, allowlistedIpRanges: [] };
const parameterSets: { case: string; parameters: HuntParameters }[] = [
  { case: "the defaults", parameters: defaults },
  {
    case: "a year with a short threshold and two allow-listed ranges",
    parameters: { lookbackDays: 365, staleThresholdDays: 30, allowlistedIpRanges: ["10.0.0.0/8", "192.168.1.0/24"] },
  },
  {
    case: "the smallest window",
    parameters: { lookbackDays: 2, staleThresholdDays: 1, allowlistedIpRanges: ["0.0.0.0/0"] },
  },
];

describe("the hunt as the Kusto language service reads it", () => {
  it.each(parameterSets)("compiles without errors and yields the parser's columns for $case", ({ parameters }) => {
    const analysis = analyzeKql(renderHunt(loadHuntTemplate(), parameters), schemas);
    expect(analysis.errors).toEqual([]);
    expect(analysis.resultColumns).toEqual(expectedColumns);
  });

  it("compiles and yields the same columns with the directory's managed identities passed in", () => {
    const ids = Array.from({ length: 3 }, (_, i) => `0a1b2c3d-0000-4000-8000-00000000000${i}`);
    const analysis = analyzeKql(renderHunt(loadHuntTemplate(), defaults, ids), schemas);
    expect(analysis.errors).toEqual([]);
    expect(analysis.resultColumns).toEqual(expectedColumns);
  });

  it("keeps its output shape in a workspace that does not collect AzureActivity", () => {
    const withoutActivity = schemas.filter((s) => s.table !== "AzureActivity");
    const analysis = analyzeKql(renderHunt(loadHuntTemplate(), defaults), withoutActivity);
    expect(analysis.errors).toEqual([]);
    expect(analysis.resultColumns).toEqual(expectedColumns);
  });

  it("compiles as written in the .kql file, so it runs unchanged in the portal", () => {
    expect(analyzeKql(loadHuntTemplate(), schemas).errors).toEqual([]);
  });

  it("compares ResultType with a string, since the column is a string", () => {
    expect(loadHuntTemplate()).toMatch(/ResultType == "0"/);
    expect(schemas.find((s) => s.table === "AADManagedIdentitySignInLogs")?.columns).toContainEqual({
      name: "ResultType",
      type: "string",
    });
  });
});

describe("the uncorrected seed query", () => {
  it("fails analysis: it invokes a workspace function most tenants do not have", () => {
    const codes = analyzeKql(seed, schemas).errors.map((e) => e.code);
    expect(codes).toContain("KS211");
  });

  it("still fails once that function exists: its summarize declares columns twice", () => {
    const withStandIn = `let ExcludeAllowlistedIPs = (T:(*)) { T };\n${seed}`;
    const errors = analyzeKql(withStandIn, schemas).errors;
    expect(errors.map((e) => e.code)).toEqual(["KS171", "KS171"]);
    expect(errors.map((e) => e.message).join(" ")).toMatch(/ServicePrincipalId/);
  });
});
