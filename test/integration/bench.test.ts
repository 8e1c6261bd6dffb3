import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CountingProxy } from "../../scripts/bench/countingProxy.js";
import { startCountingProxy } from "../../scripts/bench/countingProxy.js";
import { floorOf, mismatches, requestsOf, runDay } from "../../scripts/bench/scenario.js";
import { benchDays } from "../../scripts/bench/synthetic.js";
import type { Logger } from "../../src/run.js";
import { azuriteConnectionString, uniqueTableName } from "../helpers/state.js";

/**
 * The benchmark's own scenario code at its smallest size, so CI notices when a change costs requests. At 1,000
 * identities a steady day's one Teams acknowledgement is a twelfth of its floor; fewer identities would need
 * too few requests for any ratio target to mean much.
 */
const IDENTITIES = 1000;

let dir: string;
let proxy: CountingProxy;
const warnings: string[] = [];
const log: Logger = { info: () => {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "stale-mi-bench-test-"));
  proxy = await startCountingProxy(azuriteConnectionString());
  warnings.length = 0;
});

afterEach(async () => {
  await proxy.stop();
  rmSync(dir, { recursive: true, force: true });
});

const digest = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex");

describe("the benchmark's scenarios", () => {
  it("make the same hunt results from the same seed, and other results from another", () => {
    const once = benchDays(IDENTITIES, 1).map((d) => digest(d.body()));
    const again = benchDays(IDENTITIES, 1).map((d) => digest(d.body()));
    const otherSeed = benchDays(IDENTITIES, 2).map((d) => digest(d.body()));

    expect(again).toEqual(once);
    expect(otherSeed[0]).not.toBe(once[0]);
    // The re-run replays the steady day's result exactly.
    expect(once[2]).toBe(once[1]);
  });

  it(`stay within 1.1 × the floor on each day for ${IDENTITIES} identities, and the re-run writes only the lease and the run record`, async () => {
    const table = uniqueTableName("bench");
    const ratios: Record<string, number> = {};
    for (const [i, day] of benchDays(IDENTITIES, 1).entries()) {
      const replay = join(dir, `hunt-${i + 1}.json`);
      writeFileSync(replay, JSON.stringify(day.body()));
      proxy.reset();

      const figures = await runDay(
        {
          connectionString: proxy.connectionString,
          table,
          replay,
          outbox: join(dir, `outbox-${i + 1}`),
          now: day.now.toISOString(),
        },
        log,
      );

      const counts = proxy.counts();
      expect(mismatches(day.expected, figures, counts), day.name).toEqual([]);
      const floor = floorOf(day.expected, figures.deliveries.teams, i === 0);
      ratios[day.name] = requestsOf(counts, figures.deliveries) / floor.total;
      if (day.name === "re-run") {
        expect(counts).toEqual({ reads: 3, writes: 1, batches: 1, batchRows: 2, identityRows: 0 });
        expect(figures.deliveries).toEqual({ teams: 0, sentinel: 0 });
      }
    }

    for (const [name, ratio] of Object.entries(ratios)) expect(ratio, name).toBeLessThanOrEqual(1.1);
    expect(ratios["re-run"]).toBe(1);
    expect(warnings).toEqual([]);
  });
});
