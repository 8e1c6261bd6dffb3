import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/**
 * Renders every Teams message in an outbox to one HTML page, with the Adaptive Cards renderer itself (the
 * `adaptivecards` library, inlined so the page opens from disk with no network), so a person sees what the
 * channel will show. Returns the page's path, or undefined when the outbox holds no Teams message.
 */
export function writeTeamsPreview(outboxDir: string): { page: string; cards: number } | undefined {
  const teamsDir = join(outboxDir, "teams");
  if (!existsSync(teamsDir)) return undefined;
  const files = readdirSync(teamsDir)
    .filter((f) => f.endsWith(".json"))
    .sort();
  if (files.length === 0) return undefined;
  const cards = files.map((file) => {
    const message = JSON.parse(readFileSync(join(teamsDir, file), "utf8")) as {
      attachments?: { content?: unknown }[];
    };
    const card = message.attachments?.[0]?.content;
    if (!card) throw new Error(`${join(teamsDir, file)} holds no Adaptive Card attachment`);
    return { file, card };
  });
  const page = join(outboxDir, "teams-preview.html");
  writeFileSync(page, html(cards));
  return { page, cards: cards.length };
}

function html(cards: { file: string; card: unknown }[]): string {
  const renderer = readFileSync(
    createRequire(import.meta.url).resolve("adaptivecards/dist/adaptivecards.min.js"),
    "utf8",
  );
  // "</" inside a script element would end it early; \u003c keeps the JSON intact and inert.
  const data = JSON.stringify(cards).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>Teams preview: ${cards.length} message${cards.length === 1 ? "" : "s"}</title>
<style>
  body { font-family: "Segoe UI", system-ui, sans-serif; background: #f5f5f5; margin: 24px; color: #242424; }
  h1 { font-size: 18px; } h2 { font-size: 13px; color: #616161; font-weight: normal; margin: 24px 0 6px; }
  .card { background: #fff; border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,.15); max-width: 760px; padding: 4px; }
</style>
<script>${renderer}</script>
</head>
<body>
<h1>What the Teams channel will show (${cards.length} message${cards.length === 1 ? "" : "s"})</h1>
<div id="cards"></div>
<script type="application/json" id="data">${data}</script>
<script>
  const cards = JSON.parse(document.getElementById("data").textContent);
  const root = document.getElementById("cards");
  for (const { file, card } of cards) {
    const heading = document.createElement("h2");
    heading.textContent = file;
    const frame = document.createElement("div");
    frame.className = "card";
    const adaptive = new AdaptiveCards.AdaptiveCard();
    adaptive.onExecuteAction = (action) => { if (action.url) window.open(action.url, "_blank", "noopener"); };
    adaptive.parse(card);
    frame.appendChild(adaptive.render());
    root.append(heading, frame);
  }
</script>
</body>
</html>
`;
}
