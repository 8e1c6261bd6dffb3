import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outbox } from "../../src/notify/outbox.js";
import { writeTeamsPreview } from "../../src/notify/preview.js";
import { buildTeamsMessages } from "../../src/notify/teamsCard.js";
import { context, finding, RUN_DATE, spId } from "../helpers/delivery.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(existsSync);
const HOSTILE = "mi-backup **URGENT** [approve here](https://evil.example/login) <at>SOC Team</at>";

// A real browser runs the real Adaptive Cards renderer. CI installs Chromium (.ci/run) and fails on any skip;
// a developer machine without it skips, saying why.
if (!CHROMIUM) console.warn("preview.test.ts skipped: no Chromium found; `apt-get install chromium` to run it");

describe.skipIf(!CHROMIUM)("the Teams preview page, rendered by headless Chromium", () => {
  let dir: string;
  let dom: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "stale-mi-preview-"));
    const outbox = new Outbox(dir);
    const items = [
      { finding: finding({ servicePrincipalId: spId(1), servicePrincipalName: HOSTILE }) },
      { finding: finding({ servicePrincipalId: spId(2), servicePrincipalName: "mi-payments-prod-weu" }) },
    ];
    for (const message of buildTeamsMessages(items, RUN_DATE, 4_000)) await outbox.post(message, context());
    const preview = writeTeamsPreview(dir);
    expect(preview?.cards).toBe(2);
    dom = execFileSync(
      CHROMIUM as string,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${join(dir, "profile")}`,
        "--virtual-time-budget=5000",
        "--dump-dom",
        pathToFileURL(preview?.page as string).href,
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 },
    );
  }, 90_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("renders one Adaptive Card per Teams message in the outbox", () => {
    expect(dom.match(/class="ac-container ac-adaptiveCard"/g)).toHaveLength(2);
    expect(dom).toContain("(1 of 2)");
    expect(dom).toContain("(2 of 2)");
  });

  it("shows a hostile display name as plain text: no link, emphasis or mention comes from it", () => {
    expect(dom).toContain(
      "mi-backup **URGENT** [approve here](https∶//evil.example/login) &lt;at&gt;SOC Team&lt;/at&gt;",
    );
    expect(dom).not.toMatch(/<a [^>]*evil\.example/);
    expect(dom).not.toMatch(/<(strong|b|em)>URGENT/);
  });

  it("offers the identity's Entra admin center link as a button", () => {
    expect(dom).toContain("Open in Entra admin center");
  });
});
