// Prints the README's settings table from the compiled SETTINGS: `npm run build && node scripts/settings-table.mjs`.
import { settingsMarkdown } from "../dist/src/config.js";

process.stdout.write(`${settingsMarkdown()}\n`);
