import { HUNT_COLUMNS } from "../../src/hunt/finding.js";
import type { PeerResponse } from "./httpPeer.js";

export interface QueryTable {
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

/** The hunt's columns, named and typed as the service lists them. */
export const huntColumns = (): QueryTable["columns"] => HUNT_COLUMNS.map(({ name, type }) => ({ name, type }));

/** A hunt result table holding the given rows, each given by column name, in HUNT_COLUMNS order. */
export function huntTable(rows: readonly Record<string, unknown>[]): QueryTable {
  return { columns: huntColumns(), rows: rows.map((row) => HUNT_COLUMNS.map(({ name }) => row[name])) };
}

/** A Log Analytics query answer: 200 with `table` as the primary result, and `extra` (statistics, error) beside it. */
export function queryResult(table: QueryTable, extra: object = {}): PeerResponse {
  return { status: 200, body: { tables: [{ name: "PrimaryResult", ...table }], ...extra } };
}

/** A Log Analytics query failure: the status, with the service's error code and message. */
export function queryError(status: number, code: string, message: string): PeerResponse {
  return { status, body: { error: { code, message } } };
}
