import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import type { RequestCounter } from "../../src/state/store.js";
import { TableStateStore } from "../../src/state/store.js";

export const azuriteConnectionString = (): string => inject("azuriteConnectionString");

/** A table of its own per test, so tests share one Azurite without seeing each other's rows. */
export function uniqueTableName(prefix = "t"): string {
  return `${prefix}${randomBytes(6).toString("hex")}`;
}

export function freshStore(counter: RequestCounter = { reads: 0, writes: 0 }, table = uniqueTableName()) {
  return { store: TableStateStore.fromConnectionString(azuriteConnectionString(), table, counter), counter, table };
}
