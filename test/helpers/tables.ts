import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { TableClient } from "@azure/data-tables";
import { projectRoot } from "../../src/paths.js";
import { azuriteConnectionString } from "./state.js";

/** A direct client on a test's table, to look at rows the way an operator would, bypassing the store. */
export function tableClient(table: string): TableClient {
  return TableClient.fromConnectionString(azuriteConnectionString(), table, { allowInsecureConnection: true });
}

export type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string; etag: string };

/** Every entity of the table (lease, run records and identities), in key order; empty if the table is missing. */
export async function entitiesOf(table: string): Promise<Entity[]> {
  const entities: Entity[] = [];
  try {
    for await (const entity of tableClient(table).listEntities()) entities.push(entity as Entity);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
  return entities;
}

export const identityRows = async (table: string): Promise<Entity[]> =>
  (await entitiesOf(table)).filter((e) => e.partitionKey === "identity");

/** The files the outbox holds, per channel, sorted; a channel folder that is missing (or not a folder) holds none. */
export function outboxFiles(dir: string): { teams: string[]; sentinel: string[] } {
  const list = (channel: string) => {
    const path = join(dir, channel);
    return existsSync(path) && statSync(path).isDirectory() ? readdirSync(path).sort() : [];
  };
  return { teams: list("teams"), sentinel: list("sentinel") };
}

export const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));

export const samplePath = (day: 1 | 2): string => join(projectRoot(), "samples", `day-${day}.json`);

export const DAY_1 = new Date("2026-12-01T06:00:00Z");
export const DAY_2 = new Date("2026-12-02T06:00:00Z");

/** ServicePrincipalId of each sample identity, by a unique start of its display name. */
export function sampleIds(): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const day of [1, 2] as const) {
    const table = (readJson(samplePath(day)) as { tables: { rows: unknown[][] }[] }).tables[0];
    for (const row of table?.rows ?? []) if (row[1]) ids[String(row[1]).split(" ")[0] ?? ""] = String(row[0]);
  }
  // The identity only the directory revealed has no name in the logs.
  for (const body of readJson(sampleDirectoryPath) as { value: { id: string; displayName: string }[] }[]) {
    for (const identity of body.value) ids[identity.displayName.split(" ")[0] ?? ""] ??= identity.id;
  }
  return ids;
}

/** Saved Microsoft Graph answers for the sample tenant: every managed identity but the deleted one. */
export const sampleDirectoryPath = join(projectRoot(), "samples", "directory.json");

/** The sample's one attacker-chosen display name: markdown emphasis, a phishing link and a Teams mention. */
export function hostileSampleName(): string {
  const table = (readJson(samplePath(1)) as { tables: { rows: unknown[][] }[] }).tables[0];
  const name = table?.rows.map((row) => String(row[1])).find((n) => n.startsWith("mi-backup "));
  if (!name) throw new Error("samples/day-1.json lost its hostile display name");
  return name;
}
