import { randomUUID } from "node:crypto";
import type { TestProject } from "vitest/node";
import { startAzurite } from "../../src/state/azurite.js";

/** One in-memory Azurite for the whole run; each test isolates itself with its own table name. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite(undefined);
  project.provide("azuriteConnectionString", azurite.connectionString);
  // Lets the files that spawn the built CLI build it once per test run, not once each (see helpers/cli.ts).
  project.provide("testRunId", randomUUID());
  return azurite.stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    azuriteConnectionString: string;
    testRunId: string;
  }
}
