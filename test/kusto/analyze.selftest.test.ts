import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { analyzeKql, loadShippedSchemas } from "./analyze.js";

const tables = loadShippedSchemas();
const seed = readFileSync(new URL("../fixtures/seed.kql", import.meta.url), "utf8");

describe("analyzeKql", () => {
  it("loads the three shipped table schemas", () => {
    expect(tables.map((t) => t.table)).toEqual(["AADManagedIdentitySignInLogs", "AuditLogs", "AzureActivity"]);
  });

  it("reports the seed query's call to the undefined ExcludeAllowlistedIPs function", () => {
    const { errors } = analyzeKql(seed, tables);
    const unknownFunction = errors.find((e) => e.code === "KS211");
    expect(unknownFunction?.message).toContain("ExcludeAllowlistedIPs");
    expect(seed.substr(unknownFunction?.start ?? 0, unknownFunction?.length)).toBe("ExcludeAllowlistedIPs");
  });

  // The unknown function makes the whole sign-in pipeline untyped, which hides
  // the summarize errors; a pass-through definition brings them out.
  it("reports the seed query's summarize columns that repeat its by-keys once the function resolves", () => {
    const withFunction = `let ExcludeAllowlistedIPs = (T:(*)) { T };\n${seed}`;
    const { errors } = analyzeKql(withFunction, tables);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ["KS171", "A column with the name 'ServicePrincipalId' is already declared."],
      ["KS171", "A column with the name 'ServicePrincipalName' is already declared."],
    ]);
  });

  it("accepts a trivial AuditLogs summarize and reports its result columns", () => {
    const analysis = analyzeKql("AuditLogs | summarize n = count() by OperationName", tables);
    expect(analysis).toEqual({
      errors: [],
      resultColumns: [
        { name: "OperationName", type: "string" },
        { name: "n", type: "long" },
      ],
    });
  });

  it("names dynamic-array result columns dynamic", () => {
    const { errors, resultColumns } = analyzeKql(
      "AzureActivity | summarize Ops = make_set(OperationNameValue, 5) by Caller",
      tables,
    );
    expect(errors).toEqual([]);
    expect(resultColumns).toEqual([
      { name: "Caller", type: "string" },
      { name: "Ops", type: "dynamic" },
    ]);
  });
});
