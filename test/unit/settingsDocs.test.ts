import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SETTINGS, settingsMarkdown } from "../../src/config.js";

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");

describe("the documented settings", () => {
  it("are the README's table exactly, generated from the same definition the code reads", () => {
    const readme = read("README.md");
    const table = /<!-- settings-begin -->\n([\s\S]*?)\n<!-- settings-end -->/.exec(readme)?.[1];
    expect(table, "README.md needs the settings table between <!-- settings-begin/end --> markers").toBeDefined();
    // To update: npm run build && node scripts/settings-table.mjs
    expect(table).toBe(settingsMarkdown());
  });

  it("all appear in local.settings.sample.json, with the code's defaults", () => {
    const values = (JSON.parse(read("local.settings.sample.json")) as { Values: Record<string, string> }).Values;
    const hostOnly = ["FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"];
    expect(Object.keys(values).filter((k) => !hostOnly.includes(k))).toEqual(SETTINGS.map((s) => s.name));
    const examplesDiffer = ["LOG_ANALYTICS_WORKSPACE_ID", "STATE_CONNECTION", "SENTINEL_WORKSPACE_RESOURCE_ID"];
    for (const setting of SETTINGS.filter((s) => !examplesDiffer.includes(s.name))) {
      expect(values[setting.name], setting.name).toBe(setting.default ?? "");
    }
  });
});
