import type { InvocationContext, Timer } from "@azure/functions";
import { app } from "@azure/functions";
import { runOnce } from "../app.js";
import { loadConfig, settingValue } from "../config.js";
import type { Logger } from "../run.js";
import { summaryJson } from "../summary.js";

/** The timer only wires settings to the same run the CLI does; everything else is testable from a shell. */
export async function staleIdentityHunt(timer: Timer, context: InvocationContext): Promise<void> {
  const log: Logger = {
    info: (m) => context.log(m),
    warn: (m) => context.warn(m),
    error: (m) => context.error(m),
  };
  if (timer.isPastDue) log.warn("The hunt timer is past due: the previous schedule was missed (host down or busy)");
  const summary = await runOnce(loadConfig(process.env), {}, log);
  const line = JSON.stringify({ event: "staleIdentityHunt.summary", ...summaryJson(summary) });
  if (summary.status === "failed") {
    log.error(line);
    // Failing the invocation makes the failure visible in the Functions monitor and alerts.
    throw new Error(`Stale identity hunt failed: ${summary.error ?? "see the summary above"}`);
  }
  if (summary.status === "pending") log.warn(line);
  else log.info(line);
}

app.timer("staleIdentityHunt", {
  // App settings are in the environment when the worker registers functions, so the default applies even
  // where TIMER_SCHEDULE is not set; a bad value is reported by the host at start-up.
  schedule: settingValue(process.env, "TIMER_SCHEDULE"),
  handler: staleIdentityHunt,
});
