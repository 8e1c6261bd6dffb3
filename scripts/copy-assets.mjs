// tsc compiles only .ts; the hunt and its schemas are read at run time from beside the compiled modules.
import { cpSync, mkdirSync } from "node:fs";

mkdirSync("dist/src/hunt", { recursive: true });
cpSync("src/hunt/stale-managed-identities.kql", "dist/src/hunt/stale-managed-identities.kql");
cpSync("src/hunt/schema", "dist/src/hunt/schema", { recursive: true });
