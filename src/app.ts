import type { TokenCredential } from "@azure/identity";
import { DefaultAzureCredential } from "@azure/identity";
import type { Config, StateTarget } from "./config.js";
import { isLoopback } from "./config.js";
import type { DirectorySource } from "./graph/source.js";
import { GraphDirectory, ReplayDirectory } from "./graph/source.js";
import { loadHuntTemplate } from "./hunt/query.js";
import type { HuntSource } from "./hunt/source.js";
import { LogAnalyticsSource, ReplaySource } from "./hunt/source.js";
import type { Channel } from "./notify/channel.js";
import { Outbox } from "./notify/outbox.js";
import { SentinelChannel } from "./notify/sentinel.js";
import { LOOPBACK_CREDENTIAL, SentinelApi } from "./notify/sentinelApi.js";
import { DEFAULT_SEVERITIES, incidentUrlFor } from "./notify/sentinelIncident.js";
import { TeamsChannel } from "./notify/teams.js";
import { TeamsWebhook } from "./notify/teamsWebhook.js";
import type { Logger, RunDependencies, RunSummary } from "./run.js";
import { runDetection } from "./run.js";
import { startAzurite } from "./state/azurite.js";
import type { RequestCounter } from "./state/store.js";
import { TableStateStore } from "./state/store.js";

/** What an entry point adds to the settings: a replay file, an outbox, a state location, a fixed clock. */
export interface RunOptions {
  replay?: string;
  /** Saved Microsoft Graph response bodies standing in for the directory. */
  directory?: string;
  outbox?: string;
  state?: StateTarget;
  now?: Date;
}

export interface AssembledRun {
  deps: RunDependencies;
  /** Stops what the assembly started (a local Azurite); safe to call more than once. */
  close(): Promise<void>;
}

/** Used in outbox mode when no Sentinel workspace is configured, so incident ids stay deterministic. */
const OUTBOX_WORKSPACE =
  "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.OperationalInsights/workspaces/outbox";

/** Builds the run's dependencies from validated settings: the only place that knows every adapter. */
export async function assembleRun(config: Config, options: RunOptions, log: Logger): Promise<AssembledRun> {
  let credential: TokenCredential | undefined;
  // Created on first use: a replay run against Azurite and an outbox never needs an Azure credential.
  const lazyCredential: TokenCredential = {
    getToken: (scopes, tokenOptions) => {
      credential ??= new DefaultAzureCredential({
        authorityHost: config.endpoints.authorityHost,
        ...(config.clientId
          ? { managedIdentityClientId: config.clientId, workloadIdentityClientId: config.clientId }
          : {}),
      });
      return credential.getToken(scopes, tokenOptions);
    },
  };

  let logAnalyticsRequests = 0;
  const source: HuntSource = options.replay
    ? new ReplaySource(options.replay)
    : new LogAnalyticsSource({
        workspaceId: config.workspaceId ?? "",
        endpoint: config.endpoints.logAnalytics,
        serverTimeoutSeconds: config.serverTimeoutSeconds,
        credential: lazyCredential,
        onRequest: () => logAnalyticsRequests++,
      });

  let graphRequests = 0;
  let directory: DirectorySource | undefined;
  if (config.graphEnrichment) {
    const graph = config.endpoints.graph;
    directory = options.directory
      ? new ReplayDirectory(options.directory)
      : new GraphDirectory({
          endpoint: graph,
          // A loopback Graph stand-in gets a fixed token, as the ARM one does.
          credential: isLoopback(new URL(graph)) ? LOOPBACK_CREDENTIAL : lazyCredential,
          onRequest: () => graphRequests++,
        });
  }

  const storage: RequestCounter = { reads: 0, writes: 0 };
  const target = options.state ?? config.state;
  if (!target) {
    throw new Error("No state location: set STATE_TABLE_ENDPOINT or STATE_CONNECTION (or pass --state DIR)");
  }
  let stop = async () => {};
  let store: TableStateStore;
  if (target.kind === "endpoint") {
    store = TableStateStore.fromEndpoint(target.url, config.stateTableName, lazyCredential, storage);
  } else if (target.kind === "connection") {
    store = TableStateStore.fromConnectionString(target.connectionString, config.stateTableName, storage);
  } else {
    const azurite = await startAzurite(target.dir);
    stop = azurite.stop;
    store = TableStateStore.fromConnectionString(azurite.connectionString, config.stateTableName, storage);
  }

  const workspaceResourceId = config.sentinelWorkspaceResourceId ?? OUTBOX_WORKSPACE;
  const outbox = options.outbox ? new Outbox(options.outbox) : undefined;
  const channels: Channel[] = [];
  let sentinel: SentinelChannel | undefined;
  if (config.channels.includes("sentinel")) {
    const arm = config.endpoints.arm;
    // A loopback ARM peer (tests, local stand-ins) gets a fixed token: no Azure credential is needed there.
    const armCredential = isLoopback(new URL(arm)) ? LOOPBACK_CREDENTIAL : lazyCredential;
    const transport = outbox ?? new SentinelApi(arm, workspaceResourceId, armCredential);
    sentinel = new SentinelChannel(
      transport,
      workspaceResourceId,
      { ...DEFAULT_SEVERITIES, ...config.severityOverrides },
      config.endpoints.entraPortal,
    );
    channels.push(sentinel);
  }
  if (config.channels.includes("teams")) {
    channels.push(
      new TeamsChannel(
        outbox ?? new TeamsWebhook(config.teamsWebhookUrl ?? ""),
        (owed) =>
          sentinel && !owed.record.pending.includes("sentinel")
            ? incidentUrlFor(workspaceResourceId, sentinel.incidentIdOf(owed), config.endpoints.azurePortal)
            : undefined,
        config.endpoints.entraPortal,
      ),
    );
  }

  let closed = false;
  return {
    deps: {
      hunt: { template: loadHuntTemplate(), parameters: config.hunt },
      source,
      directory,
      store,
      channels,
      channelNames: config.channels,
      runTimeBudgetMs: config.runTimeBudgetMs,
      log,
      requests: { logAnalytics: () => logAnalyticsRequests, graph: () => graphRequests, storage },
      now: options.now ? () => options.now as Date : undefined,
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await stop();
    },
  };
}

/**
 * One run from settings to summary, as the timer and the CLI do it, stopping whatever the assembly started even
 * when the run throws. `overrides` replace assembled dependencies (a test's shorter budget or other clock).
 */
export async function runOnce(
  config: Config,
  options: RunOptions,
  log: Logger,
  overrides: Partial<RunDependencies> = {},
): Promise<RunSummary> {
  const run = await assembleRun(config, options, log);
  try {
    return await runDetection({ ...run.deps, ...overrides });
  } finally {
    await run.close();
  }
}
