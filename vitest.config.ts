import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/azuriteSetup.ts"],
    // The Kusto language service takes a second to load; Azurite round trips add up on a shared machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI reads the counts from the JSON report to print its own closing line.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: { json: ".local/ci/vitest.json" },
  },
});
