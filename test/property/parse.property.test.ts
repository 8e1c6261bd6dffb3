import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Finding, HuntColumn } from "../../src/hunt/finding.js";
import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import type { RawTable } from "../../src/hunt/parse.js";
import { HuntResultError, parseFindings } from "../../src/hunt/parse.js";
import { HuntSourceError, replayTable } from "../../src/hunt/source.js";

/**
 * The row parser on random and hostile input: it returns one complete, well-typed Finding per row, or throws
 * a HuntResultError whose every problem names its column or its row; never another error, never a finding
 * with a field missing or of the wrong type. fast-check prints the seed and the shrunk input of a failure.
 */

const SOURCE = "replay file property.json";
const RUNS = { numRuns: 400, seed: 20261203 };

/** Text with what attackers put in display names: control and bidi characters, markup, lone surrogates. */
const hostileText = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom(
    "",
    "  ",
    "\u0000",
    "\u202e",
    "<script>alert(1)</script>",
    "[x](https://evil.example)",
    "\ud800",
    "null",
  ),
);

const validValue = (column: HuntColumn): fc.Arbitrary<unknown> => {
  switch (column.type) {
    case "string":
      return column.name === "ServicePrincipalId" ? fc.uuid() : hostileText;
    case "long":
      return fc.integer({ min: 0, max: 100_000 });
    case "datetime":
      return fc.oneof(
        fc.constant(null),
        fc
          .date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true })
          .map((d) => d.toISOString()),
      );
    case "dynamic":
      return fc.oneof(
        fc.array(hostileText, { maxLength: 4 }).map((a) => JSON.stringify(a)),
        fc.array(hostileText, { maxLength: 4 }),
        fc.constant(null),
      );
  }
};

/** Usually a valid value, sometimes anything JSON can carry in its place. */
const cellFor = (column: HuntColumn) =>
  fc.oneof(
    { weight: 6, arbitrary: validValue(column) },
    { weight: 1, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: hostileText },
  );

const rowArbitrary = fc.tuple(...HUNT_COLUMNS.map(cellFor));

/** What is wrong with a finding the parser returned; empty when every field is present and well typed. */
function findingProblems(f: Finding): string[] {
  const problems: string[] = [];
  for (const column of HUNT_COLUMNS) {
    const value: unknown = f[column.field];
    const ok =
      column.type === "string"
        ? typeof value === "string"
        : column.type === "long"
          ? Number.isSafeInteger(value)
          : column.type === "datetime"
            ? value === null || (typeof value === "string" && new Date(value).toISOString() === value)
            : Array.isArray(value) && value.every((v) => typeof v === "string");
    if (!ok) problems.push(`${column.field} is ${JSON.stringify(value)}`);
  }
  if (f.servicePrincipalId.trim() === "" || f.servicePrincipalId !== f.servicePrincipalId.trim()) {
    problems.push(`servicePrincipalId ${JSON.stringify(f.servicePrincipalId)}`);
  }
  if (typeof f.extra !== "object" || f.extra === null) problems.push("extra is not an object");
  return problems;
}

/** Findings, or the problems of a HuntResultError; any other error fails the property. */
function outcome(table: RawTable): { findings: Finding[] } | { problems: string[] } {
  try {
    return { findings: parseFindings(table, SOURCE) };
  } catch (error) {
    if (!(error instanceof HuntResultError)) throw error;
    expect(error.message).toContain(SOURCE);
    return { problems: error.problems };
  }
}

const columns = () => HUNT_COLUMNS.map(({ name, type }) => ({ name, type }));

describe("parseFindings on random and hostile rows", () => {
  it("yields a complete finding per row, or problems that each name their row", () => {
    fc.assert(
      fc.property(fc.array(rowArbitrary, { maxLength: 8 }), (rows) => {
        const result = outcome({ columns: columns(), rows: rows as unknown[][] });
        if ("findings" in result) {
          expect(result.findings).toHaveLength(rows.length);
          for (const f of result.findings) expect(findingProblems(f)).toEqual([]);
        } else {
          expect(result.problems.length).toBeGreaterThan(0);
          for (const p of result.problems) expect(p).toMatch(/^row \d+( \(ServicePrincipalId .+\))?: /);
        }
      }),
      RUNS,
    );
  });

  it("names each row whose length or shape is wrong, and each column a table lacks, repeats or mistypes", () => {
    const column = fc.oneof(
      fc.constantFrom(...columns()),
      fc.record({
        name: fc.constantFrom(...HUNT_COLUMNS.map((c) => c.name)),
        type: fc.constantFrom("string", "long", "real", "bool", "datetime", "dynamic", "guid"),
      }),
      fc.record({ name: fc.string({ maxLength: 12 }), type: fc.constantFrom("string", "dynamic", "long") }),
    );
    const row = fc.oneof(fc.array(fc.jsonValue(), { maxLength: 22 }), fc.jsonValue(), rowArbitrary);
    fc.assert(
      fc.property(fc.array(column, { maxLength: 22 }), fc.array(row, { maxLength: 5 }), (cols, rows) => {
        const result = outcome({ columns: cols, rows: rows as unknown[][] });
        if ("findings" in result) {
          for (const f of result.findings) expect(findingProblems(f)).toEqual([]);
          // Only a table with every column, once, of an accepted type is read at all.
          for (const c of HUNT_COLUMNS) expect(cols.filter((x) => x.name === c.name)).toHaveLength(1);
        } else {
          for (const p of result.problems) expect(p).toMatch(/^(column (\w+|".*") |row \d+)/);
        }
      }),
      RUNS,
    );
  });

  it("takes any JSON as a replay body: a table, or a HuntSourceError naming the file, then findings or problems", () => {
    const body = fc.oneof(
      fc.jsonValue(),
      fc.array(fc.dictionary(fc.constantFrom(...HUNT_COLUMNS.map((c) => c.name), "Extra"), fc.jsonValue()), {
        maxLength: 4,
      }),
      fc.record({ tables: fc.array(fc.record({ columns: fc.jsonValue(), rows: fc.jsonValue() }), { maxLength: 2 }) }),
    );
    fc.assert(
      fc.property(body, (value) => {
        let table: RawTable;
        try {
          table = replayTable(value, SOURCE);
        } catch (error) {
          expect(error).toBeInstanceOf(HuntSourceError);
          expect((error as Error).message).toContain(SOURCE);
          return;
        }
        const result = outcome(table);
        if ("findings" in result) for (const f of result.findings) expect(findingProblems(f)).toEqual([]);
      }),
      RUNS,
    );
  });
});
