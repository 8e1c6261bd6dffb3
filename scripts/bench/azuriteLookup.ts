/**
 * Preloaded (`--import`) into the benchmark's Azurite only. Azurite 3.35, pinned because 3.36 needs Node 22,
 * looks an entity up with `findOne({ PartitionKey, RowKey })`; LokiJS uses an index for the first property
 * alone, and with every identity in one partition that is a scan of the whole table per entity written, so a
 * 100,000-row first run spends twenty minutes inside the emulator. Azurite 3.36 puts RowKey first
 * (Azure/Azurite#2588); this does the same for 3.35. Same results, same HTTP; only the emulator's time changes.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// Azurite's own copy of LokiJS, so the patched prototype is the one its table store uses.
const loki = createRequire(require.resolve("azurite/dist/src/table/main.js"))("lokijs") as {
  Collection: { prototype: { findOne(query: unknown): unknown } };
};
const findOne = loki.Collection.prototype.findOne;
loki.Collection.prototype.findOne = function (this: unknown, query: unknown) {
  if (query && typeof query === "object" && "PartitionKey" in query && "RowKey" in query) {
    const { RowKey, PartitionKey, ...rest } = query as Record<string, unknown>;
    return findOne.call(this, { RowKey, PartitionKey, ...rest });
  }
  return findOne.call(this, query);
};
