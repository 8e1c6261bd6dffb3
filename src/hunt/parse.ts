import type { Finding, HuntColumn, KustoType } from "./finding.js";
import { HUNT_COLUMNS } from "./finding.js";

/** A hunt result as Log Analytics' REST API returns it; replay files without types leave `type` out. */
export interface RawTable {
  columns: { name: string; type?: string }[];
  rows: unknown[][];
}

export class HuntResultError extends Error {
  constructor(
    readonly problems: string[],
    source: string,
  ) {
    const shown = problems.slice(0, 20).map((p) => `  - ${p}`);
    if (problems.length > shown.length) shown.push(`  - ... and ${problems.length - shown.length} more`);
    super(`The hunt result from ${source} is not usable, so nothing was changed or sent:\n${shown.join("\n")}`);
    this.name = "HuntResultError";
  }
}

/** Types a column may carry on the wire for each expected type (int and long are the same to us). */
const ACCEPTED_TYPES: Record<KustoType, readonly string[]> = {
  string: ["string"],
  long: ["long", "int"],
  datetime: ["datetime"],
  dynamic: ["dynamic"],
};

/**
 * Turns every row into a Finding or fails with every problem found, each naming its column and row.
 * All or nothing: one bad row means the whole result is suspect, and a partial set would resolve the
 * identities it lacks.
 */
export function parseFindings(table: RawTable, source: string): Finding[] {
  const problems: string[] = [];
  const indexByName = new Map<string, number>();
  table.columns.forEach((column, index) => {
    if (indexByName.has(column.name)) problems.push(`column ${columnLabel(column.name)} appears twice`);
    indexByName.set(column.name, index);
  });
  for (const column of HUNT_COLUMNS) {
    const index = indexByName.get(column.name);
    if (index === undefined) {
      problems.push(`column ${column.name} (${column.type}) is missing`);
      continue;
    }
    const declared = table.columns[index]?.type;
    if (declared !== undefined && !ACCEPTED_TYPES[column.type].includes(declared)) {
      problems.push(`column ${column.name} has type ${declared}, expected ${column.type}`);
    }
  }
  if (problems.length > 0) throw new HuntResultError(problems, source);

  const known = new Set(HUNT_COLUMNS.map((c) => c.name));
  const extraColumns = table.columns.filter((c) => !known.has(c.name));
  const findings: Finding[] = [];
  const rowById = new Map<string, number>();

  table.rows.forEach((row, rowIndex) => {
    const rowNumber = rowIndex + 1;
    if (!Array.isArray(row) || row.length !== table.columns.length) {
      problems.push(`row ${rowNumber}: expected ${table.columns.length} values, got ${describe(row)}`);
      return;
    }
    const rawId = row[indexByName.get("ServicePrincipalId") as number];
    const id = typeof rawId === "string" ? rawId.trim() : "";
    const where = id ? `row ${rowNumber} (ServicePrincipalId ${id})` : `row ${rowNumber}`;
    if (!id) {
      problems.push(`${where}: ServicePrincipalId is empty`);
      return;
    }
    const firstRow = rowById.get(id.toLowerCase());
    if (firstRow !== undefined) {
      problems.push(`${where}: ServicePrincipalId duplicates row ${firstRow}`);
      return;
    }
    rowById.set(id.toLowerCase(), rowNumber);

    const finding: Record<string, unknown> = {};
    let rowOk = true;
    for (const column of HUNT_COLUMNS) {
      const result = convert(column, row[indexByName.get(column.name) as number]);
      if ("problem" in result) {
        problems.push(`${where}: column ${column.name}: ${result.problem}`);
        rowOk = false;
      } else {
        finding[column.field] = result.value;
      }
    }
    const extra: Record<string, unknown> = {};
    for (const column of extraColumns) {
      const value = row[indexByName.get(column.name) as number];
      extra[column.name] = column.type === "dynamic" ? parseDynamic(value) : value;
    }
    finding.extra = extra;
    finding.servicePrincipalId = id;
    if (rowOk) findings.push(finding as unknown as Finding);
  });

  if (problems.length > 0) throw new HuntResultError(problems, source);
  return findings;
}

type Converted = { value: unknown } | { problem: string };

function convert(column: HuntColumn, value: unknown): Converted {
  switch (column.type) {
    case "string":
      if (value === null || value === undefined) return { value: "" };
      return typeof value === "string" ? { value } : { problem: `expected a string, got ${describe(value)}` };
    case "long":
      return typeof value === "number" && Number.isSafeInteger(value)
        ? { value }
        : { problem: `expected a whole number, got ${describe(value)}` };
    case "datetime": {
      if (value === null || value === undefined || value === "") return { value: null };
      const time = value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : Number.NaN;
      return Number.isNaN(time)
        ? { problem: `expected an ISO 8601 datetime, got ${describe(value)}` }
        : { value: new Date(time).toISOString() };
    }
    case "dynamic": {
      const parsed = parseDynamic(value);
      if (parsed === null || parsed === undefined || parsed === "") return { value: [] };
      if (!Array.isArray(parsed)) return { problem: `expected an array, got ${describe(value)}` };
      const items: string[] = [];
      for (const item of parsed) {
        if (typeof item === "string") items.push(item);
        else if (typeof item === "number" || typeof item === "boolean") items.push(String(item));
        else return { problem: `expected an array of strings, got an element ${describe(item)}` };
      }
      return { value: items };
    }
  }
}

/** The REST API sends `dynamic` values as JSON text; the SDK and portal exports send them parsed. */
function parseDynamic(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (!text.startsWith("[") && !text.startsWith("{")) return value;
  try {
    return JSON.parse(text);
  } catch {
    return value;
  }
}

/** A column as a message names it: quoted when its name is empty or not a plain word, so it can be told apart. */
const columnLabel = (name: string): string => (/^\w+$/.test(name) ? name : JSON.stringify(name));

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const text = typeof value === "string" ? JSON.stringify(value) : `${typeof value} ${JSON.stringify(value)}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
