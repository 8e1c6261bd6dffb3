import { describe, expect, it } from "vitest";
import type { Config, ConfigContext } from "../../src/config.js";
import { CLOUDS, ConfigError, endpointProblem, isIpv4Cidr, loadConfig } from "../../src/config.js";

type Env = Record<string, string | undefined>;

const WORKSPACE_ID = "3f2b6c1e-8d4a-4b7e-9c2d-1a5e6f7b8c9d";
const SENTINEL_ID =
  "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sentinel/providers/Microsoft.OperationalInsights/workspaces/law-sentinel";

/** A production-shaped environment that loads without a problem; each case below spoils or changes part of it. */
const validEnv: Env = {
  LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE_ID,
  TEAMS_WEBHOOK_URL: "https://prod.example/workflows/abc/triggers/manual/paths/invoke",
  SENTINEL_WORKSPACE_RESOURCE_ID: SENTINEL_ID,
};

/** The problems loadConfig reports, or [] when it accepts the settings. */
function problemsOf(env: Env, context: ConfigContext = {}): string[] {
  try {
    loadConfig(env, context);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

describe("loadConfig defaults", () => {
  it("fills every setting from its default when the environment is empty and a replay and an outbox stand in", () => {
    const expected: Config = {
      workspaceId: undefined,
      cloud: "public",
      endpoints: CLOUDS.public,
      clientId: undefined,
      hunt: { lookbackDays: 180, staleThresholdDays: 90, allowlistedIpRanges: [] },
      serverTimeoutSeconds: 180,
      state: undefined,
      stateTableName: "StaleManagedIdentities",
      channels: ["teams", "sentinel"],
      teamsWebhookUrl: undefined,
      sentinelWorkspaceResourceId: undefined,
      severityOverrides: {},
      timerSchedule: "0 0 6 * * *",
      runTimeBudgetMs: 540_000,
      graphEnrichment: false,
    };
    expect(loadConfig({}, { replay: true, outbox: true })).toEqual(expected);
  });

  it("requires the workspace id and both channel targets when the environment is empty and nothing stands in", () => {
    const problems = problemsOf({});
    expect(problems).toHaveLength(3);
    expect(problems).toEqual([
      expect.stringMatching(/^LOG_ANALYTICS_WORKSPACE_ID: required/),
      expect.stringMatching(/^TEAMS_WEBHOOK_URL: required/),
      expect.stringMatching(/^SENTINEL_WORKSPACE_RESOURCE_ID: required/),
    ]);
  });
});

describe("GRAPH_ENRICHMENT", () => {
  const cases: { name: string; env: Env; context: ConfigContext; expected: boolean }[] = [
    { name: "is on by default for a live run", env: validEnv, context: {}, expected: true },
    { name: "is off by default for a replay", env: {}, context: { replay: true, outbox: true }, expected: false },
    {
      name: "is on for a replay with a directory file",
      env: {},
      context: { replay: true, outbox: true, directory: true },
      expected: true,
    },
    {
      name: "is on for a replay with a Graph endpoint",
      env: { GRAPH_ENDPOINT: "http://127.0.0.1:9/" },
      context: { replay: true, outbox: true },
      expected: true,
    },
    {
      name: "can be turned off for a live run",
      env: { ...validEnv, GRAPH_ENRICHMENT: "off" },
      context: {},
      expected: false,
    },
    {
      name: "can be turned on for a replay",
      env: { GRAPH_ENRICHMENT: "ON" },
      context: { replay: true, outbox: true },
      expected: true,
    },
  ];
  it.each(cases)("$name", ({ env, context, expected }) => {
    expect(loadConfig(env, context).graphEnrichment).toBe(expected);
  });

  it("refuses a Graph endpoint with a path: the client adds /v1.0 itself", () => {
    expect(problemsOf({ ...validEnv, GRAPH_ENDPOINT: "https://proxy.example/graph" })).toEqual([
      "GRAPH_ENDPOINT: expected the Graph host alone, e.g. https://graph.microsoft.com, without a path (got path /graph)",
    ]);
  });

  it("names the setting when the value is neither on nor off", () => {
    expect(problemsOf({ ...validEnv, GRAPH_ENRICHMENT: "maybe" })).toEqual([
      'GRAPH_ENRICHMENT: expected on or off, got "maybe"',
    ]);
  });
});

describe("loadConfig problems", () => {
  it("reports every bad setting at once, each by name", () => {
    const env: Env = {
      LOG_ANALYTICS_WORKSPACE_ID: "not-a-guid",
      AZURE_CLIENT_ID: "1234",
      HUNT_LOOKBACK_DAYS: "60",
      HUNT_STALE_THRESHOLD_DAYS: "90",
      HUNT_ALLOWLISTED_IP_RANGES: "10.0.0.0/33",
      HUNT_SERVER_TIMEOUT_SECONDS: "0",
      LOG_ANALYTICS_ENDPOINT: "http://api.example/v1",
      ARM_ENDPOINT: "ftp://management.example",
      STATE_TABLE_ENDPOINT: "not a url",
      STATE_TABLE_NAME: "my-table",
      NOTIFY_CHANNELS: "teams,email",
      SENTINEL_WORKSPACE_RESOURCE_ID: "/subscriptions/x/workspaces/y",
      TIMER_SCHEDULE: "0 6 * * *",
      RUN_TIME_BUDGET_SECONDS: "10",
      SENTINEL_SEVERITY_MAP: "MyNewSignal=Urgent",
    };
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    const named = problems.map((p) => p.slice(0, p.search(/[: (]/)));
    expect(named.sort()).toEqual(
      [
        "LOG_ANALYTICS_WORKSPACE_ID",
        "AZURE_CLIENT_ID",
        "HUNT_LOOKBACK_DAYS",
        "HUNT_ALLOWLISTED_IP_RANGES",
        "HUNT_SERVER_TIMEOUT_SECONDS",
        "LOG_ANALYTICS_ENDPOINT",
        "ARM_ENDPOINT",
        "STATE_TABLE_ENDPOINT",
        "STATE_TABLE_NAME",
        "NOTIFY_CHANNELS",
        "SENTINEL_WORKSPACE_RESOURCE_ID",
        "TEAMS_WEBHOOK_URL",
        "TIMER_SCHEDULE",
        "RUN_TIME_BUDGET_SECONDS",
        "SENTINEL_SEVERITY_MAP",
      ].sort(),
    );
    // The message lists each problem on its own line.
    for (const problem of problems) expect((caught as ConfigError).message).toContain(`  - ${problem}`);
  });

  const cases: { case: string; env: Env; context?: ConfigContext; setting: string; says: string }[] = [
    {
      case: "a missing LOG_ANALYTICS_WORKSPACE_ID outside replay",
      env: { LOG_ANALYTICS_WORKSPACE_ID: undefined },
      setting: "LOG_ANALYTICS_WORKSPACE_ID",
      says: "required to query Log Analytics",
    },
    {
      case: "a blank LOG_ANALYTICS_WORKSPACE_ID outside replay",
      env: { LOG_ANALYTICS_WORKSPACE_ID: "   " },
      setting: "LOG_ANALYTICS_WORKSPACE_ID",
      says: "required",
    },
    {
      case: "a malformed LOG_ANALYTICS_WORKSPACE_ID",
      env: { LOG_ANALYTICS_WORKSPACE_ID: "3f2b6c1e-8d4a-4b7e-9c2d-1a5e6f7b8c9" },
      setting: "LOG_ANALYTICS_WORKSPACE_ID",
      says: "expected a GUID",
    },
    {
      case: "a malformed LOG_ANALYTICS_WORKSPACE_ID even in replay",
      env: { LOG_ANALYTICS_WORKSPACE_ID: "workspace" },
      context: { replay: true },
      setting: "LOG_ANALYTICS_WORKSPACE_ID",
      says: "expected a GUID",
    },
    {
      case: "a malformed AZURE_CLIENT_ID",
      env: { AZURE_CLIENT_ID: "{3f2b6c1e-8d4a-4b7e-9c2d-1a5e6f7b8c9d}" },
      setting: "AZURE_CLIENT_ID",
      says: "expected a GUID",
    },
    {
      case: "HUNT_LOOKBACK_DAYS equal to HUNT_STALE_THRESHOLD_DAYS",
      env: { HUNT_LOOKBACK_DAYS: "90", HUNT_STALE_THRESHOLD_DAYS: "90" },
      setting: "HUNT_LOOKBACK_DAYS",
      says: "must be longer than HUNT_STALE_THRESHOLD_DAYS (90)",
    },
    {
      case: "HUNT_LOOKBACK_DAYS shorter than HUNT_STALE_THRESHOLD_DAYS",
      env: { HUNT_LOOKBACK_DAYS: "30" },
      setting: "HUNT_LOOKBACK_DAYS",
      says: "HUNT_LOOKBACK_DAYS (30) must be longer than HUNT_STALE_THRESHOLD_DAYS (90)",
    },
    {
      case: "a fractional HUNT_LOOKBACK_DAYS",
      env: { HUNT_LOOKBACK_DAYS: "180.5" },
      setting: "HUNT_LOOKBACK_DAYS",
      says: 'expected a whole number from 1 to 730, got "180.5"',
    },
    {
      case: "a HUNT_LOOKBACK_DAYS above its range",
      env: { HUNT_LOOKBACK_DAYS: "731" },
      setting: "HUNT_LOOKBACK_DAYS",
      says: "expected a whole number from 1 to 730",
    },
    {
      case: "a HUNT_STALE_THRESHOLD_DAYS above its range",
      env: { HUNT_LOOKBACK_DAYS: "365", HUNT_STALE_THRESHOLD_DAYS: "180" },
      setting: "HUNT_STALE_THRESHOLD_DAYS",
      says: "expected a whole number from 1 to 179",
    },
    {
      case: "a negative HUNT_STALE_THRESHOLD_DAYS",
      env: { HUNT_STALE_THRESHOLD_DAYS: "-1" },
      setting: "HUNT_STALE_THRESHOLD_DAYS",
      says: "expected a whole number",
    },
    {
      case: "an allow-listed range without a prefix",
      env: { HUNT_ALLOWLISTED_IP_RANGES: "10.0.0.0" },
      setting: "HUNT_ALLOWLISTED_IP_RANGES",
      says: '"10.0.0.0" is not an IPv4 CIDR range',
    },
    {
      case: "an allow-listed range with leading zeros",
      env: { HUNT_ALLOWLISTED_IP_RANGES: "10.0.0.0/8,010.0.0.0/8" },
      setting: "HUNT_ALLOWLISTED_IP_RANGES",
      says: '"010.0.0.0/8" is not an IPv4 CIDR range',
    },
    {
      case: "an allow-listed range with prefix 33",
      env: { HUNT_ALLOWLISTED_IP_RANGES: "10.0.0.0/33" },
      setting: "HUNT_ALLOWLISTED_IP_RANGES",
      says: '"10.0.0.0/33" is not an IPv4 CIDR range',
    },
    {
      case: "an IPv6 allow-listed range",
      env: { HUNT_ALLOWLISTED_IP_RANGES: "fd00::/8" },
      setting: "HUNT_ALLOWLISTED_IP_RANGES",
      says: '"fd00::/8" is not an IPv4 CIDR range',
    },
    {
      case: "an unknown channel in NOTIFY_CHANNELS",
      env: { NOTIFY_CHANNELS: "teams,email" },
      setting: "NOTIFY_CHANNELS",
      says: 'unknown channel "email"',
    },
    {
      case: '"none" mixed with a real channel in NOTIFY_CHANNELS',
      env: { NOTIFY_CHANNELS: "none,teams" },
      setting: "NOTIFY_CHANNELS",
      says: 'unknown channel "none"',
    },
    {
      case: "a plain-http LOG_ANALYTICS_ENDPOINT that is not loopback",
      env: { LOG_ANALYTICS_ENDPOINT: "http://api.loganalytics.io/v1" },
      setting: "LOG_ANALYTICS_ENDPOINT",
      says: "expected an https URL (plain http only on loopback)",
    },
    {
      case: "a plain-http ARM_ENDPOINT on a host that only starts like loopback",
      env: { ARM_ENDPOINT: "http://127.0.0.1.evil.example" },
      setting: "ARM_ENDPOINT",
      says: "expected an https URL",
    },
    {
      case: "a plain-http STATE_TABLE_ENDPOINT on a localhost look-alike",
      env: { STATE_TABLE_ENDPOINT: "http://localhost.evil.example:10002/devstoreaccount1" },
      setting: "STATE_TABLE_ENDPOINT",
      says: "expected an https URL",
    },
    {
      case: "a STATE_TABLE_ENDPOINT that is not a URL",
      env: { STATE_TABLE_ENDPOINT: "mystorage.table.core.windows.net" },
      setting: "STATE_TABLE_ENDPOINT",
      says: "expected an absolute URL",
    },
    {
      case: "a STATE_TABLE_NAME with a hyphen",
      env: { STATE_TABLE_NAME: "stale-identities" },
      setting: "STATE_TABLE_NAME",
      says: "is not a valid table name",
    },
    {
      case: "a STATE_TABLE_NAME starting with a digit",
      env: { STATE_TABLE_NAME: "1Identities" },
      setting: "STATE_TABLE_NAME",
      says: "is not a valid table name",
    },
    {
      case: "a STATE_TABLE_NAME of two characters",
      env: { STATE_TABLE_NAME: "ab" },
      setting: "STATE_TABLE_NAME",
      says: "is not a valid table name",
    },
    {
      case: "a five-field TIMER_SCHEDULE",
      env: { TIMER_SCHEDULE: "0 6 * * *" },
      setting: "TIMER_SCHEDULE",
      says: "six fields",
    },
    {
      case: "a seven-field TIMER_SCHEDULE",
      env: { TIMER_SCHEDULE: "0 0 6 * * * 2026" },
      setting: "TIMER_SCHEDULE",
      says: "six fields",
    },
    {
      case: "a missing TEAMS_WEBHOOK_URL when teams is a channel and no outbox is used",
      env: { NOTIFY_CHANNELS: "teams", TEAMS_WEBHOOK_URL: undefined },
      setting: "TEAMS_WEBHOOK_URL",
      says: "required because NOTIFY_CHANNELS includes teams",
    },
    {
      case: "a missing SENTINEL_WORKSPACE_RESOURCE_ID when sentinel is a channel and no outbox is used",
      env: { NOTIFY_CHANNELS: "sentinel", SENTINEL_WORKSPACE_RESOURCE_ID: undefined },
      setting: "SENTINEL_WORKSPACE_RESOURCE_ID",
      says: "required because NOTIFY_CHANNELS includes sentinel",
    },
    {
      case: "a SENTINEL_WORKSPACE_RESOURCE_ID that is not a workspace resource id",
      env: {
        SENTINEL_WORKSPACE_RESOURCE_ID:
          "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x",
      },
      setting: "SENTINEL_WORKSPACE_RESOURCE_ID",
      says: "expected /subscriptions/<guid>/resourceGroups/<rg>",
    },
    {
      case: "a malformed SENTINEL_WORKSPACE_RESOURCE_ID even with an outbox",
      env: { SENTINEL_WORKSPACE_RESOURCE_ID: "law-sentinel" },
      context: { outbox: true },
      setting: "SENTINEL_WORKSPACE_RESOURCE_ID",
      says: "expected /subscriptions/",
    },
    {
      case: "a SENTINEL_SEVERITY_MAP entry with an unknown severity",
      env: { SENTINEL_SEVERITY_MAP: "AzureActivityWithoutSignIn=Medium,MyNewSignal=Critical" },
      setting: "SENTINEL_SEVERITY_MAP",
      says: '"MyNewSignal=Critical" is not Signal=Severity',
    },
    {
      case: "a SENTINEL_SEVERITY_MAP entry without a signal",
      env: { SENTINEL_SEVERITY_MAP: "=High" },
      setting: "SENTINEL_SEVERITY_MAP",
      says: '"=High" is not Signal=Severity',
    },
    {
      case: "a SENTINEL_SEVERITY_MAP entry with two equals signs",
      env: { SENTINEL_SEVERITY_MAP: "MyNewSignal=Low=High" },
      setting: "SENTINEL_SEVERITY_MAP",
      says: '"MyNewSignal=Low=High" is not Signal=Severity',
    },
    {
      case: "a SENTINEL_SEVERITY_MAP entry without a severity",
      env: { SENTINEL_SEVERITY_MAP: "MyNewSignal" },
      setting: "SENTINEL_SEVERITY_MAP",
      says: '"MyNewSignal" is not Signal=Severity',
    },
    {
      case: "a HUNT_SERVER_TIMEOUT_SECONDS of zero",
      env: { HUNT_SERVER_TIMEOUT_SECONDS: "0" },
      setting: "HUNT_SERVER_TIMEOUT_SECONDS",
      says: "expected a whole number from 1 to 600",
    },
    {
      case: "a RUN_TIME_BUDGET_SECONDS below its range",
      env: { RUN_TIME_BUDGET_SECONDS: "29" },
      setting: "RUN_TIME_BUDGET_SECONDS",
      says: "expected a whole number from 30 to 3600",
    },
  ];

  it.each(cases)("rejects $case with exactly one problem that names the setting", ({ env, context, setting, says }) => {
    const problems = problemsOf({ ...validEnv, ...env }, context);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${setting}[: (]`));
    expect(problems[0]).toContain(says);
  });
});

describe("loadConfig accepted values", () => {
  const cases: { case: string; env: Env; context?: ConfigContext; expected: Partial<Config> }[] = [
    {
      case: "no workspace id when a replay stands in",
      env: { LOG_ANALYTICS_WORKSPACE_ID: undefined },
      context: { replay: true },
      expected: { workspaceId: undefined },
    },
    {
      case: "an upper-case GUID, lowercased",
      env: {
        LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE_ID.toUpperCase(),
        AZURE_CLIENT_ID: ` ${WORKSPACE_ID.toUpperCase()} `,
      },
      expected: { workspaceId: WORKSPACE_ID, clientId: WORKSPACE_ID },
    },
    {
      case: '"none" as no channel at all, with no channel target required',
      env: { NOTIFY_CHANNELS: "none", TEAMS_WEBHOOK_URL: undefined, SENTINEL_WORKSPACE_RESOURCE_ID: undefined },
      expected: { channels: [] },
    },
    {
      case: "channels in any case and with repeats, once each in order",
      env: { NOTIFY_CHANNELS: " Sentinel , TEAMS,sentinel " },
      expected: { channels: ["sentinel", "teams"] },
    },
    {
      case: "channels without their targets when an outbox stands in",
      env: { TEAMS_WEBHOOK_URL: undefined, SENTINEL_WORKSPACE_RESOURCE_ID: undefined },
      context: { outbox: true },
      expected: { channels: ["teams", "sentinel"], teamsWebhookUrl: undefined, sentinelWorkspaceResourceId: undefined },
    },
    {
      case: "a plain-http endpoint on http://127.0.0.1",
      env: { STATE_TABLE_ENDPOINT: "http://127.0.0.1:10002/devstoreaccount1" },
      expected: { state: { kind: "endpoint", url: "http://127.0.0.1:10002/devstoreaccount1" } },
    },
    {
      case: "a plain-http endpoint on http://localhost, without its trailing slashes",
      env: { LOG_ANALYTICS_ENDPOINT: "http://localhost:8080/v1//" },
      expected: { endpoints: { ...CLOUDS.public, logAnalytics: "http://localhost:8080/v1" } },
    },
    {
      case: "a plain-http endpoint on the IPv6 loopback",
      env: { ARM_ENDPOINT: "http://[::1]:8443" },
      expected: { endpoints: { ...CLOUDS.public, arm: "http://[::1]:8443" } },
    },
    {
      case: "a connection string when no table endpoint is given",
      env: { STATE_CONNECTION: "UseDevelopmentStorage=true" },
      expected: { state: { kind: "connection", connectionString: "UseDevelopmentStorage=true" } },
    },
    {
      case: "the table endpoint over the connection string when both are given",
      env: {
        STATE_TABLE_ENDPOINT: "https://acct.table.core.windows.net/",
        STATE_CONNECTION: "UseDevelopmentStorage=true",
      },
      expected: { state: { kind: "endpoint", url: "https://acct.table.core.windows.net" } },
    },
    {
      case: "allow-listed ranges with spaces and empty items",
      env: { HUNT_ALLOWLISTED_IP_RANGES: " 10.0.0.0/8 , ,192.168.1.0/24,," },
      expected: {
        hunt: { lookbackDays: 180, staleThresholdDays: 90, allowlistedIpRanges: ["10.0.0.0/8", "192.168.1.0/24"] },
      },
    },
    {
      case: "the smallest window, one day longer than the threshold",
      env: { HUNT_LOOKBACK_DAYS: "2", HUNT_STALE_THRESHOLD_DAYS: "1" },
      expected: { hunt: { lookbackDays: 2, staleThresholdDays: 1, allowlistedIpRanges: [] } },
    },
    {
      case: "a six-field schedule with extra spaces around it",
      env: { TIMER_SCHEDULE: "  0 30 2 * * 1-5 " },
      expected: { timerSchedule: "0 30 2 * * 1-5" },
    },
    {
      case: "severity overrides in any case and with spaces, as the canonical severity names",
      env: { SENTINEL_SEVERITY_MAP: " AzureActivityWithoutSignIn = medium , MyNewSignal=LOW,," },
      expected: { severityOverrides: { AzureActivityWithoutSignIn: "Medium", MyNewSignal: "Low" } },
    },
    {
      case: "the run time budget, in milliseconds",
      env: { RUN_TIME_BUDGET_SECONDS: "3600" },
      expected: { runTimeBudgetMs: 3_600_000 },
    },
  ];

  it.each(cases)("accepts $case", ({ env, context, expected }) => {
    expect(loadConfig({ ...validEnv, ...env }, context)).toMatchObject(expected);
  });
});

describe("TEAMS_WEBHOOK_URL is a secret", () => {
  const cases: { case: string; value: string }[] = [
    { case: "a plain-http URL on another host", value: "http://evil.example/workflows/SECRET-TOKEN" },
    { case: "a URL of another scheme", value: "ftp://evil.example/workflows/SECRET-TOKEN" },
    { case: "text that is not a URL", value: "evil.example/workflows/SECRET-TOKEN" },
    { case: "a URL with a line break before the token", value: "http://evil.example/workflows/\nSECRET-TOKEN" },
    { case: "text with a line break before the token", value: "not a url\nSECRET-TOKEN" },
  ];

  it.each(cases)("is named but never echoed when it is $case", ({ value }) => {
    let caught: unknown;
    try {
      loadConfig({ ...validEnv, TEAMS_WEBHOOK_URL: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^TEAMS_WEBHOOK_URL: /);
    expect(error.problems[0]).toContain("value not shown");
    for (const text of [error.message, String(error), error.stack ?? "", JSON.stringify(error.problems)]) {
      expect(text).not.toContain("SECRET-TOKEN");
      expect(text).not.toContain(value);
      expect(text).not.toContain("evil.example");
    }
  });

  it("is kept as given when it is a valid https URL", () => {
    expect(loadConfig(validEnv).teamsWebhookUrl).toBe(validEnv.TEAMS_WEBHOOK_URL);
  });
});

describe("endpointProblem", () => {
  it.each([
    { case: "an https URL", value: "https://api.loganalytics.io/v1" },
    { case: "plain http on 127.0.0.1", value: "http://127.0.0.1:8080" },
    { case: "plain http on another 127/8 address", value: "http://127.10.0.2/v1" },
    { case: "plain http on localhost", value: "http://localhost" },
    { case: "plain http on the IPv6 loopback", value: "http://[::1]:10002" },
  ])("accepts $case", ({ value }) => {
    expect(endpointProblem(value)).toBeUndefined();
  });

  it.each([
    { case: "plain http on a public host", value: "http://api.example", says: "expected an https URL" },
    { case: "plain http on a private address", value: "http://10.0.0.4", says: "expected an https URL" },
    { case: "plain http on a loopback look-alike", value: "http://127.0.0.1.nip.io", says: "expected an https URL" },
    { case: "another scheme", value: "ws://localhost", says: "expected an https URL" },
    { case: "a relative path", value: "/v1/query", says: "expected an absolute URL" },
    { case: "a bare host name", value: "api.example", says: "expected an absolute URL" },
  ])("rejects $case, quoting the value", ({ value, says }) => {
    const problem = endpointProblem(value);
    expect(problem).toContain(says);
    expect(problem).toContain(`got "${value}"`);
  });
});

describe("isIpv4Cidr", () => {
  it.each([
    { case: "a /8 range", value: "10.0.0.0/8" },
    { case: "a /24 range", value: "192.168.1.0/24" },
    { case: "the whole address space", value: "0.0.0.0/0" },
    { case: "a single address", value: "203.0.113.7/32" },
  ])("accepts $case", ({ value }) => {
    expect(isIpv4Cidr(value)).toBe(true);
  });

  it.each([
    { case: "an address without a prefix", value: "10.0.0.0" },
    { case: "a prefix of 33", value: "10.0.0.0/33" },
    { case: "a three-digit prefix", value: "10.0.0.0/100" },
    { case: "a negative prefix", value: "10.0.0.0/-1" },
    { case: "leading zeros in an octet", value: "10.0.0.01/32" },
    { case: "a leading zero in the first octet", value: "010.0.0.0/8" },
    { case: "an octet above 255", value: "10.0.0.256/32" },
    { case: "three octets", value: "10.0.0/24" },
    { case: "an IPv6 range", value: "2001:db8::/32" },
    { case: "an IPv4-mapped IPv6 range", value: "::ffff:10.0.0.0/104" },
    { case: "a range with text after it", value: '10.0.0.0/8"]); AuditLogs | take 1 //' },
    { case: "a range with a space inside", value: "10.0.0.0 /8" },
    { case: "an empty string", value: "" },
  ])("rejects $case", ({ value }) => {
    expect(isIpv4Cidr(value)).toBe(false);
  });
});
