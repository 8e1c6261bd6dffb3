import { readJson, samplePath } from "./tables.js";

/**
 * What a sample day holds, read from the file, so the fault tests' expected counts follow the samples when
 * identities are added to them instead of being written down a second time.
 */
export interface SampleDay {
  /** Columns of its result table. */
  columns: number;
  rows: number;
  /** ServicePrincipalIds of the rows with a RiskSignal, in file order. */
  riskyIds: string[];
}

export function sampleDay(day: 1 | 2): SampleDay {
  const body = readJson(samplePath(day)) as { tables: { columns: { name: string }[]; rows: unknown[][] }[] };
  const table = body.tables[0];
  if (!table) throw new Error(`samples/day-${day}.json has no table`);
  const index = (name: string) => table.columns.findIndex((c) => c.name === name);
  const id = index("ServicePrincipalId");
  const signal = index("RiskSignal");
  return {
    columns: table.columns.length,
    rows: table.rows.length,
    riskyIds: table.rows.filter((row) => row[signal]).map((row) => String(row[id])),
  };
}
