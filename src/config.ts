import { isIPv4 } from "node:net";
import type { Severity } from "./notify/sentinelIncident.js";
import { SEVERITIES } from "./notify/sentinelIncident.js";

/**
 * Every setting the detector reads, with its default and why it exists. The README's settings table and
 * local.settings.sample.json are tested against this list, so adding a setting here is the whole job.
 */
export interface SettingSpec {
  name: string;
  /** The value used when the setting is absent; undefined means "no default". */
  default?: string;
  doc: string;
  secret?: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    name: "LOG_ANALYTICS_WORKSPACE_ID",
    doc: "Workspace (customer) id, a GUID, of the Log Analytics / Sentinel workspace the hunt runs against. Required unless a replay file is given.",
  },
  {
    name: "AZURE_CLOUD",
    default: "public",
    doc: "Azure cloud: public, usgov or china. Selects the Log Analytics, ARM, Graph and login endpoints and the portal links; each endpoint can be overridden below.",
  },
  {
    name: "LOG_ANALYTICS_ENDPOINT",
    doc: "Log Analytics query endpoint. Default from AZURE_CLOUD: https://api.loganalytics.io/v1, https://api.loganalytics.us/v1, https://api.loganalytics.azure.cn/v1.",
  },
  {
    name: "AZURE_CLIENT_ID",
    doc: "Client id (GUID) of the user-assigned managed identity to authenticate with. Empty: DefaultAzureCredential's own choice (system-assigned identity in Azure, your az login locally).",
  },
  {
    name: "HUNT_LOOKBACK_DAYS",
    default: "180",
    doc: "Days of sign-in and audit history the hunt reads (1-730). Must be longer than the stale threshold; the workspace's retention caps what it really sees.",
  },
  {
    name: "HUNT_STALE_THRESHOLD_DAYS",
    default: "90",
    doc: "An identity whose last successful sign-in is older than this many days (1-179) is stale.",
  },
  {
    name: "HUNT_ALLOWLISTED_IP_RANGES",
    default: "",
    doc: "Comma-separated IPv4 CIDR ranges (e.g. 10.0.0.0/8) whose sign-ins do not count as use. Empty: none.",
  },
  {
    name: "HUNT_SERVER_TIMEOUT_SECONDS",
    default: "180",
    doc: "How long Log Analytics may spend on the query (1-600 s).",
  },
  {
    name: "STATE_TABLE_ENDPOINT",
    doc: "Table Storage endpoint for the detector's state, e.g. https://<account>.table.core.windows.net, used with the managed identity. Give this or STATE_CONNECTION.",
  },
  {
    name: "STATE_CONNECTION",
    doc: "Table Storage connection string (e.g. UseDevelopmentStorage=true for Azurite). Used when STATE_TABLE_ENDPOINT is empty. A secret when it holds a key.",
    secret: true,
  },
  {
    name: "STATE_TABLE_NAME",
    default: "StaleManagedIdentities",
    doc: "Table that holds one row per tracked identity, the run records and the lease. Created if missing.",
  },
  {
    name: "NOTIFY_CHANNELS",
    default: "teams,sentinel",
    doc: "Comma-separated channels that receive new risky findings: teams, sentinel, or none.",
  },
  {
    name: "TEAMS_WEBHOOK_URL",
    doc: "Teams Workflows webhook URL (a secret: use a Key Vault reference in Azure). Required when NOTIFY_CHANNELS has teams and no outbox is used.",
    secret: true,
  },
  {
    name: "SENTINEL_WORKSPACE_RESOURCE_ID",
    doc: "ARM resource id of the Sentinel workspace (/subscriptions/.../providers/Microsoft.OperationalInsights/workspaces/<name>). Required when NOTIFY_CHANNELS has sentinel and no outbox is used.",
  },
  {
    name: "SENTINEL_SEVERITY_MAP",
    default: "",
    doc: "Overrides of the RiskSignal → incident severity map, e.g. AzureActivityWithoutSignIn=Medium,MyNewSignal=Low. Defaults: CredOrRoleChangeOnStaleIdentity=High, AzureActivityWithoutSignIn=High, CreatedAndModifiedButNeverUsed=Medium; any other signal Medium.",
  },
  {
    name: "ARM_ENDPOINT",
    doc: "Azure Resource Manager endpoint for Sentinel incidents. Default from AZURE_CLOUD: https://management.azure.com, https://management.usgovcloudapi.net, https://management.chinacloudapi.cn.",
  },
  {
    name: "GRAPH_ENDPOINT",
    doc: "Microsoft Graph endpoint, for the identity enrichment. Default from AZURE_CLOUD: https://graph.microsoft.com, https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn.",
  },
  {
    name: "GRAPH_ENRICHMENT",
    default: "",
    doc: "on or off: look every finding up in Microsoft Graph (exists, enabled, system- or user-assigned, Azure resource) and list the directory's managed identities to find never-used ones the logs miss. Needs Application.Read.All. Empty: on, except for replay runs without GRAPH_ENDPOINT or a --directory file.",
  },
  {
    name: "AUTHORITY_HOST",
    doc: "Microsoft Entra login host for @azure/identity. Default from AZURE_CLOUD: https://login.microsoftonline.com, https://login.microsoftonline.us, https://login.chinacloudapi.cn.",
  },
  {
    name: "TIMER_SCHEDULE",
    default: "0 0 6 * * *",
    doc: "NCRONTAB schedule (with seconds, UTC) of the timer function. Default: daily at 06:00 UTC.",
  },
  {
    name: "RUN_TIME_BUDGET_SECONDS",
    default: "540",
    doc: "Wall-clock budget of one run (30-3600 s): the query, retries and deliveries stop within it, and the lease expires after it. Longer than HUNT_SERVER_TIMEOUT_SECONDS, shorter than the Function timeout.",
  },
];

/** A setting's value as every reader must see it: trimmed, and an empty value means "not set". */
export function settingValue(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const spec = SETTINGS.find((s) => s.name === name);
  if (!spec) throw new Error(`BUG: setting ${name} is not declared in SETTINGS`);
  // Bicep and the portal write empty app settings for unused options.
  return env[name]?.trim() || spec.default || "";
}

/** What each cloud's endpoints and portals are; a setting overrides any endpoint (a loopback peer, say). */
export interface CloudEndpoints {
  logAnalytics: string;
  arm: string;
  graph: string;
  authorityHost: string;
  /** Where analysts open incidents. */
  azurePortal: string;
  /** Where analysts open an identity; the sovereign clouds use the Azure portal's Entra blades. */
  entraPortal: string;
}

export const CLOUDS: Readonly<Record<"public" | "usgov" | "china", CloudEndpoints>> = {
  public: {
    logAnalytics: "https://api.loganalytics.io/v1",
    arm: "https://management.azure.com",
    graph: "https://graph.microsoft.com",
    authorityHost: "https://login.microsoftonline.com",
    azurePortal: "https://portal.azure.com",
    entraPortal: "https://entra.microsoft.com",
  },
  usgov: {
    logAnalytics: "https://api.loganalytics.us/v1",
    arm: "https://management.usgovcloudapi.net",
    graph: "https://graph.microsoft.us",
    authorityHost: "https://login.microsoftonline.us",
    azurePortal: "https://portal.azure.us",
    entraPortal: "https://portal.azure.us",
  },
  china: {
    logAnalytics: "https://api.loganalytics.azure.cn/v1",
    arm: "https://management.chinacloudapi.cn",
    graph: "https://microsoftgraph.chinacloudapi.cn",
    authorityHost: "https://login.chinacloudapi.cn",
    azurePortal: "https://portal.azure.cn",
    entraPortal: "https://portal.azure.cn",
  },
};

/** The names Azure tools use for the clouds, accepted as well as the short ones. */
const CLOUD_ALIASES: Readonly<Record<string, keyof typeof CLOUDS>> = {
  public: "public",
  azurecloud: "public",
  azurepubliccloud: "public",
  usgov: "usgov",
  azureusgovernment: "usgov",
  china: "china",
  azurechinacloud: "china",
};

export type ChannelName = "teams" | "sentinel";
export const CHANNEL_NAMES: readonly ChannelName[] = ["teams", "sentinel"];

export type StateTarget =
  | { kind: "endpoint"; url: string }
  | { kind: "connection"; connectionString: string }
  | { kind: "azurite"; dir: string | undefined };

export interface Config {
  workspaceId: string | undefined;
  cloud: keyof typeof CLOUDS;
  /** The cloud's endpoints with every override applied. */
  endpoints: CloudEndpoints;
  clientId: string | undefined;
  hunt: HuntParameters;
  serverTimeoutSeconds: number;
  state: StateTarget | undefined;
  stateTableName: string;
  channels: ChannelName[];
  teamsWebhookUrl: string | undefined;
  sentinelWorkspaceResourceId: string | undefined;
  /** Overrides only; the defaults live with the incident builder. */
  severityOverrides: Record<string, Severity>;
  timerSchedule: string;
  runTimeBudgetMs: number;
  /** Whether findings are looked up in Microsoft Graph (or in a directory replay file). */
  graphEnrichment: boolean;
}

export interface HuntParameters {
  lookbackDays: number;
  staleThresholdDays: number;
  allowlistedIpRanges: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** What the entry point already knows, which changes what is required. */
export interface ConfigContext {
  /** A replay file stands in for Log Analytics, so no workspace id is needed. */
  replay?: boolean;
  /** An outbox stands in for the channels, so their endpoints and secrets are not needed. */
  outbox?: boolean;
  /** A directory replay file stands in for Microsoft Graph, which turns enrichment on unless set off. */
  directory?: boolean;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const WORKSPACE_RESOURCE_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w._()]+\/providers\/Microsoft\.OperationalInsights\/workspaces\/[-\w]+$/i;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/** Reads every setting, reports every problem at once, and returns a typed Config only when all are valid. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, context: ConfigContext = {}): Config {
  const problems: string[] = [];
  const read = (name: string): string => settingValue(env, name);
  const optional = (name: string): string | undefined => read(name) || undefined;
  const integer = (name: string, min: number, max: number): number => {
    const raw = read(name);
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
      return Number.NaN;
    }
    return value;
  };
  const guid = (name: string): string | undefined => {
    const value = optional(name);
    if (value !== undefined && !GUID.test(value)) problems.push(`${name}: expected a GUID, got "${value}"`);
    return value?.toLowerCase();
  };
  const endpoint = (name: string): string | undefined => {
    const value = optional(name);
    if (value === undefined) return undefined;
    // Checked first, so that no message below can echo a SAS token or a password.
    const problem = carriesSecrets(value) ? CARRIES_SECRETS : endpointProblem(value);
    if (problem) problems.push(`${name}: ${problem}`);
    return value.replace(/\/+$/, "");
  };

  const cloudName = read("AZURE_CLOUD").toLowerCase();
  const cloud = CLOUD_ALIASES[cloudName] ?? "public";
  if (!CLOUD_ALIASES[cloudName]) problems.push(`AZURE_CLOUD: expected public, usgov or china, got "${cloudName}"`);

  const workspaceId = guid("LOG_ANALYTICS_WORKSPACE_ID");
  if (!workspaceId && !context.replay) {
    problems.push("LOG_ANALYTICS_WORKSPACE_ID: required to query Log Analytics (or pass --replay FILE)");
  }

  const lookbackDays = integer("HUNT_LOOKBACK_DAYS", 1, 730);
  const staleThresholdDays = integer("HUNT_STALE_THRESHOLD_DAYS", 1, 179);
  if (lookbackDays <= staleThresholdDays) {
    problems.push(
      `HUNT_LOOKBACK_DAYS (${lookbackDays}) must be longer than HUNT_STALE_THRESHOLD_DAYS (${staleThresholdDays}): otherwise no sign-in can be old enough to be stale`,
    );
  }
  const allowlistedIpRanges = read("HUNT_ALLOWLISTED_IP_RANGES")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const range of allowlistedIpRanges) {
    if (!isIpv4Cidr(range)) {
      problems.push(`HUNT_ALLOWLISTED_IP_RANGES: "${range}" is not an IPv4 CIDR range such as 10.0.0.0/8`);
    }
  }

  const stateEndpoint = endpoint("STATE_TABLE_ENDPOINT");
  const stateConnection = optional("STATE_CONNECTION");
  if (stateConnection?.startsWith(KEY_VAULT_REFERENCE)) {
    problems.push(`STATE_CONNECTION: ${UNRESOLVED_REFERENCE}`);
  } else if (stateConnection !== undefined && !isConnectionString(stateConnection)) {
    // Never echoed: a connection string usually holds an account key.
    problems.push(
      "STATE_CONNECTION: not a storage connection string (expected UseDevelopmentStorage=true, or AccountName=...;AccountKey=... or a TableEndpoint with a SharedAccessSignature); value not shown",
    );
  }
  const state: StateTarget | undefined = stateEndpoint
    ? { kind: "endpoint", url: stateEndpoint }
    : stateConnection
      ? { kind: "connection", connectionString: stateConnection }
      : undefined;
  const stateTableName = read("STATE_TABLE_NAME");
  if (!TABLE_NAME.test(stateTableName)) {
    problems.push(
      `STATE_TABLE_NAME: "${stateTableName}" is not a valid table name (3-63 letters or digits, starting with a letter)`,
    );
  }

  const channels = parseChannels(read("NOTIFY_CHANNELS"), problems);
  const teamsWebhookUrl = optional("TEAMS_WEBHOOK_URL");
  if (teamsWebhookUrl?.startsWith(KEY_VAULT_REFERENCE)) {
    problems.push(`TEAMS_WEBHOOK_URL: ${UNRESOLVED_REFERENCE}`);
  } else if (teamsWebhookUrl !== undefined) {
    // The URL itself is a secret: never echo it, not even in a validation message.
    const problem = endpointProblem(teamsWebhookUrl);
    if (problem)
      problems.push(`TEAMS_WEBHOOK_URL: ${problem.replace(/, got [\s\S]*/, "")} (value not shown: it is a secret)`);
  }
  const sentinelWorkspaceResourceId = optional("SENTINEL_WORKSPACE_RESOURCE_ID");
  if (sentinelWorkspaceResourceId !== undefined && !WORKSPACE_RESOURCE_ID.test(sentinelWorkspaceResourceId)) {
    problems.push(
      `SENTINEL_WORKSPACE_RESOURCE_ID: expected /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>, got "${sentinelWorkspaceResourceId}"`,
    );
  }
  if (!context.outbox) {
    if (channels.includes("teams") && !teamsWebhookUrl) {
      problems.push("TEAMS_WEBHOOK_URL: required because NOTIFY_CHANNELS includes teams (or pass --outbox DIR)");
    }
    if (channels.includes("sentinel") && !sentinelWorkspaceResourceId) {
      problems.push(
        "SENTINEL_WORKSPACE_RESOURCE_ID: required because NOTIFY_CHANNELS includes sentinel (or pass --outbox DIR)",
      );
    }
  }

  const serverTimeoutSeconds = integer("HUNT_SERVER_TIMEOUT_SECONDS", 1, 600);
  const runTimeBudgetSeconds = integer("RUN_TIME_BUDGET_SECONDS", 30, 3600);
  if (!context.replay && serverTimeoutSeconds >= runTimeBudgetSeconds) {
    problems.push(
      `HUNT_SERVER_TIMEOUT_SECONDS (${serverTimeoutSeconds}) must be shorter than RUN_TIME_BUDGET_SECONDS (${runTimeBudgetSeconds}): the query alone could outlast the run's lease`,
    );
  }

  const graphEnrichment = parseSwitch(
    "GRAPH_ENRICHMENT",
    read("GRAPH_ENRICHMENT"),
    !context.replay || Boolean(context.directory) || Boolean(optional("GRAPH_ENDPOINT")),
    problems,
  );

  const config: Config = {
    workspaceId,
    cloud,
    endpoints: {
      ...CLOUDS[cloud],
      logAnalytics: endpoint("LOG_ANALYTICS_ENDPOINT") ?? CLOUDS[cloud].logAnalytics,
      arm: endpoint("ARM_ENDPOINT") ?? CLOUDS[cloud].arm,
      graph: graphEndpoint(endpoint("GRAPH_ENDPOINT"), problems) ?? CLOUDS[cloud].graph,
      authorityHost: endpoint("AUTHORITY_HOST") ?? CLOUDS[cloud].authorityHost,
    },
    clientId: guid("AZURE_CLIENT_ID"),
    hunt: { lookbackDays, staleThresholdDays, allowlistedIpRanges },
    serverTimeoutSeconds,
    state,
    stateTableName,
    channels,
    teamsWebhookUrl,
    sentinelWorkspaceResourceId,
    severityOverrides: parseSeverities(read("SENTINEL_SEVERITY_MAP"), problems),
    timerSchedule: schedule(read("TIMER_SCHEDULE"), problems),
    runTimeBudgetMs: runTimeBudgetSeconds * 1000,
    graphEnrichment,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function parseSeverities(raw: string, problems: string[]): Record<string, Severity> {
  const overrides: Record<string, Severity> = {};
  for (const pair of raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [signal, severity, ...rest] = pair.split("=").map((s) => s.trim());
    const known = SEVERITIES.find((s) => s.toLowerCase() === severity?.toLowerCase());
    if (!signal || !known || rest.length > 0) {
      problems.push(
        `SENTINEL_SEVERITY_MAP: "${pair}" is not Signal=Severity with a severity of ${SEVERITIES.join(", ")}`,
      );
    } else {
      overrides[signal] = known;
    }
  }
  return overrides;
}

/** NCRONTAB as the Functions host reads it: six fields, seconds first. */
function schedule(raw: string, problems: string[]): string {
  if (raw.split(/\s+/).length !== 6) {
    problems.push(`TIMER_SCHEDULE: expected an NCRONTAB expression with six fields (seconds first), got "${raw}"`);
  }
  return raw;
}

/** The Graph client adds the API version itself and follows next links only under it, so a path cannot work. */
function graphEndpoint(value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  let path = "/";
  try {
    path = new URL(value).pathname;
  } catch {
    return value; // endpoint() has already reported it
  }
  if (path !== "/" && path !== "") {
    problems.push(
      `GRAPH_ENDPOINT: expected the Graph host alone, e.g. https://graph.microsoft.com, without a path (got path ${path})`,
    );
  }
  return value;
}

function parseSwitch(name: string, raw: string, fallback: boolean, problems: string[]): boolean {
  const value = raw.toLowerCase();
  if (value === "") return fallback;
  if (["on", "true", "1"].includes(value)) return true;
  if (["off", "false", "0"].includes(value)) return false;
  problems.push(`${name}: expected on or off, got "${raw}"`);
  return fallback;
}

function parseChannels(raw: string, problems: string[]): ChannelName[] {
  const names = raw
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 1 && names[0] === "none") return [];
  const channels: ChannelName[] = [];
  for (const name of names) {
    const channel = CHANNEL_NAMES.find((c) => c === name);
    if (!channel) {
      problems.push(`NOTIFY_CHANNELS: unknown channel "${name}" (known: ${CHANNEL_NAMES.join(", ")}, or none)`);
    } else if (!channels.includes(channel)) {
      channels.push(channel);
    }
  }
  return channels;
}

const KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(";
const UNRESOLVED_REFERENCE =
  "the Key Vault reference was not resolved by the Functions host: give the app's identity the Key Vault Secrets User role on the vault and check the secret's URI";
const CARRIES_SECRETS =
  "must be a bare endpoint, without credentials, query or fragment (value not shown, as it may hold a SAS token)";

/** An endpoint setting is logged in errors, so it must not be able to carry a SAS token or a password. */
function carriesSecrets(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "";
}

export function isConnectionString(value: string): boolean {
  if (/^UseDevelopmentStorage=true;?$/i.test(value)) return true;
  const parts = new Map(
    value
      .split(";")
      .filter(Boolean)
      .map((part) => {
        const at = part.indexOf("=");
        return [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1)] as const;
      }),
  );
  return (
    (parts.has("accountname") && parts.has("accountkey")) ||
    (parts.has("tableendpoint") && parts.has("sharedaccesssignature"))
  );
}

/** Plain http is accepted only on loopback, where test peers and local emulators live. */
export function endpointProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected an absolute URL, got "${value}"`;
  }
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && isLoopback(url)) return undefined;
  return `expected an https URL (plain http only on loopback), got "${value}"`;
}

export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function isIpv4Cidr(value: string): boolean {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(value);
  if (!match?.[1] || !match[2]) return false;
  const address = match[1];
  const prefix = Number(match[2]);
  // Leading zeros read as octal in some parsers: reject them so the range means one thing everywhere.
  return isIPv4(address) && !/(^|\.)0\d/.test(address) && prefix >= 0 && prefix <= 32;
}

/** The README's settings table, generated from SETTINGS so the two cannot drift (a test compares them). */
export function settingsMarkdown(): string {
  const rows = SETTINGS.map((s) => {
    const fallback = s.default ? `\`${s.default}\`` : "(none)";
    return `| \`${s.name}\` | ${fallback} | ${s.doc.replace(/\|/g, "\\|")}${s.secret ? " **Secret.**" : ""} |`;
  });
  return ["| Setting | Default | What it does |", "| --- | --- | --- |", ...rows].join("\n");
}
