import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/config.js";
import type { KqlTable } from "../kusto/analyze.js";
import { analyzeKql } from "../kusto/analyze.js";
import type { ArmResource, ArmTemplate } from "./bicep.js";
import { compile, findBicep, inlineVariables, runBicep, SKIP_REASON } from "./bicep.js";

const cli = findBicep();
if (!cli) console.warn(SKIP_REASON);

const MAIN = join("infra", "main.bicep");
const BICEP_FILES = [MAIN, join("infra", "modules", "workspaceRoles.bicep"), join("infra", "example.bicepparam")];

/**
 * App settings that are not detector settings: the Functions host's own. Each is here for a reason, so that a
 * new name in either list fails the comparison below until someone decides where it belongs.
 */
const HOST_SETTINGS = [
  // Identity-based host storage (no connection string, since shared-key access is off).
  "AzureWebJobsStorage__credential",
  "AzureWebJobsStorage__clientId",
  "AzureWebJobsStorage__blobServiceUri",
  // Telemetry with an Entra token: App Insights has local (key) auth off.
  "APPLICATIONINSIGHTS_CONNECTION_STRING",
  "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
];
/** Detector settings Azure must not set. */
const NOT_IN_AZURE = [
  // A connection string with an account key, for local runs; in Azure the identity uses STATE_TABLE_ENDPOINT, and
  // the storage account refuses keys anyway.
  "STATE_CONNECTION",
];

const ROLE = {
  storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  logAnalyticsReader: "73c42c96-874c-492b-b04d-ab87d138a893",
  sentinelResponder: "3e150937-b8fe-4cfb-8069-0eaf05ecd056",
};

describe.skipIf(!cli)("infra/main.bicep", () => {
  let template: ArmTemplate;
  let workspaceModule: ArmResource;
  const only = (type: string, from: () => ArmResource[] = () => template.resources): ArmResource => {
    const found = from().filter((r) => r.type === type);
    expect(
      found.map((r) => r.type),
      `exactly one ${type}`,
    ).toEqual([type]);
    return found[0] as ArmResource;
  };

  beforeAll(() => {
    template = compile(cli as string, MAIN);
    workspaceModule = only("Microsoft.Resources/deployments");
  });

  it.each(BICEP_FILES)("%s lints with no finding at all", (file) => {
    const result = runBicep(cli as string, ["lint", file]);
    expect({ status: result.status, output: (result.stdout + result.stderr).trim() }).toEqual({
      status: 0,
      output: "",
    });
  });

  it("compiles with no warning", () => {
    const result = runBicep(cli as string, ["build", MAIN, "--stdout"]);
    expect(result.stderr.trim()).toBe("");
    expect(result.status).toBe(0);
  });

  it("compiles the example parameters file against the template", () => {
    const result = runBicep(cli as string, ["build-params", join("infra", "example.bicepparam"), "--stdout"]);
    expect(result.stderr.trim()).toBe("");
    expect(result.status).toBe(0);
  });

  it("uses no registry module and no Bicep extension, which cannot be restored offline", () => {
    const files = [MAIN, ...readdirSync(join("infra", "modules")).map((f) => join("infra", "modules", f))];
    const offenders = files.filter((file) =>
      /^\s*(extension\s|import\s.*from\s|module\s+\w+\s+'(br|ts)[:/])/m.test(readFileSync(file, "utf8")),
    );
    expect(offenders).toEqual([]);
  });

  describe("storage account", () => {
    it.each([
      ["allowSharedKeyAccess", false],
      ["minimumTlsVersion", "TLS1_2"],
      ["supportsHttpsTrafficOnly", true],
      ["allowBlobPublicAccess", false],
      ["defaultToOAuthAuthentication", true],
    ])("sets %s to %s", (property, value) => {
      expect(only("Microsoft.Storage/storageAccounts").properties[property]).toBe(value);
    });

    it("lists no account key anywhere in the template", () => {
      expect(JSON.stringify(template)).not.toMatch(/listKeys|listAccountSas|listServiceSas|listConnectionStrings/i);
    });
  });

  it.each([
    ["enableRbacAuthorization", true],
    ["enablePurgeProtection", true],
    ["enableSoftDelete", true],
  ])("Key Vault sets %s to %s", (property, value) => {
    expect(only("Microsoft.KeyVault/vaults").properties[property]).toBe(value);
  });

  it("Application Insights has local auth off and sends to its own Log Analytics workspace", () => {
    const appInsights = only("Microsoft.Insights/components");
    expect(appInsights.properties.DisableLocalAuth).toBe(true);
    expect(appInsights.properties.WorkspaceResourceId).toContain("Microsoft.OperationalInsights/workspaces");
  });

  describe("Function app", () => {
    it("runs on a Flex Consumption plan", () => {
      const plan = only("Microsoft.Web/serverfarms");
      expect(plan.sku).toMatchObject({ name: "FC1", tier: "FlexConsumption" });
      expect(plan.properties.reserved).toBe(true);
    });

    it("is a Linux Function app on Node 22, https only, with only the user-assigned identity", () => {
      const site = only("Microsoft.Web/sites");
      expect(site.apiVersion >= "2024-04-01").toBe(true);
      expect(site.kind).toBe("functionapp,linux");
      expect(site.properties.httpsOnly).toBe(true);
      expect(site.identity?.type).toBe("UserAssigned");
      expect(Object.keys(site.identity?.userAssignedIdentities as object)).toEqual([
        "[format('{0}', resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('names').identity))]",
      ]);
      const config = site.properties.functionAppConfig as Record<string, Record<string, unknown>>;
      expect(config.runtime).toEqual({ name: "node", version: "22" });
    });

    it("reads its deployment package and resolves Key Vault references with the user-assigned identity", () => {
      const site = only("Microsoft.Web/sites");
      const uami = "resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('names').identity)";
      const storage = (site.properties.functionAppConfig as { deployment: { storage: Record<string, unknown> } })
        .deployment.storage;
      expect(storage.type).toBe("blobContainer");
      expect(storage.authentication).toEqual({
        type: "UserAssignedIdentity",
        userAssignedIdentityResourceId: `[${uami}]`,
      });
      expect(site.properties.keyVaultReferenceIdentity).toBe(`[${uami}]`);
    });

    it.each(["ftp", "scm"])("refuses %s basic-auth publishing credentials", (name) => {
      const policy = template.resources.find(
        (r) => r.type === "Microsoft.Web/sites/basicPublishingCredentialsPolicies" && r.name.includes(`'${name}'`),
      );
      expect(policy?.properties).toEqual({ allow: false });
    });
  });

  describe("app settings", () => {
    const settings = (): Record<string, string> =>
      only("Microsoft.Web/sites/config").properties as Record<string, string>;

    it("are exactly the settings src/config.ts reads, plus the host's own", () => {
      const expected = [...SETTINGS.map((s) => s.name).filter((n) => !NOT_IN_AZURE.includes(n)), ...HOST_SETTINGS];
      expect(Object.keys(settings()).sort()).toEqual(expected.sort());
    });

    it("carry no secret: the webhook URL is a Key Vault reference, and no setting holds a secure parameter", () => {
      const values = settings();
      expect(values.TEAMS_WEBHOOK_URL).toMatch(
        /^\[if\(variables\('sendsToTeams'\), format\('@Microsoft\.KeyVault\(SecretUri=\{0\}secrets\/\{1\}\/\)'/,
      );
      const secureParams = Object.entries(template.parameters)
        .filter(([, p]) => p.type === "securestring")
        .map(([name]) => name);
      expect(secureParams).toEqual(["teamsWebhookUrl"]);
      const leaking = Object.entries(values).filter(([, v]) => secureParams.some((p) => v.includes(`'${p}'`)));
      expect(leaking).toEqual([]);
    });

    it("take the workspace's customer id from the module that reads the workspace", () => {
      expect(settings().LOG_ANALYTICS_WORKSPACE_ID).toContain("outputs.customerId.value");
      expect(settings().SENTINEL_WORKSPACE_RESOURCE_ID).toBe("[parameters('sentinelWorkspaceResourceId')]");
    });

    it("authenticate the code and the host as the user-assigned identity", () => {
      const clientId =
        "reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('names').identity), '2024-11-30').clientId";
      expect(settings().AZURE_CLIENT_ID).toBe(`[${clientId}]`);
      expect(settings().AzureWebJobsStorage__clientId).toBe(`[${clientId}]`);
      expect(settings().AzureWebJobsStorage__credential).toBe("managedidentity");
      expect(settings().APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(
        `[format('ClientId={0};Authorization=AAD', ${clientId})]`,
      );
    });

    it.each([
      ["TIMER_SCHEDULE", "0 0 6 * * *"],
      ["NOTIFY_CHANNELS", "teams,sentinel"],
      ["GRAPH_ENRICHMENT", "on"],
      ["STATE_TABLE_NAME", "StaleManagedIdentities"],
      ["HUNT_LOOKBACK_DAYS", 180],
      ["RUN_TIME_BUDGET_SECONDS", 540],
      ["LOG_ANALYTICS_ENDPOINT", ""],
      ["ARM_ENDPOINT", ""],
      ["GRAPH_ENDPOINT", ""],
      ["AUTHORITY_HOST", ""],
    ])("default %s from its parameter to %j", (name, value) => {
      const parameter = /^\[(?:string\()?parameters\('(\w+)'\)\)?\]$/.exec(settings()[name] ?? "")?.[1];
      expect(parameter, `${name} is set from a parameter`).toBeDefined();
      expect(template.parameters[parameter as string]?.defaultValue).toEqual(value);
    });

    it("give defaults that agree with the code's own defaults", () => {
      const disagreements = SETTINGS.filter((s) => s.default !== undefined && s.default !== "")
        .map((s) => {
          const parameter = /^\[(?:string\()?parameters\('(\w+)'\)\)?\]$/.exec(settings()[s.name] ?? "")?.[1];
          const value = parameter === undefined ? undefined : template.parameters[parameter]?.defaultValue;
          return { name: s.name, code: s.default, bicep: value === undefined ? undefined : String(value) };
        })
        // AZURE_CLOUD's default follows the cloud the template is deployed in.
        .filter((d) => d.name !== "AZURE_CLOUD" && d.bicep !== d.code);
      expect(disagreements).toEqual([]);
    });
  });

  describe("role assignments", () => {
    const assignments = (resources: ArmResource[], context: ArmTemplate = template) =>
      resources
        .filter((r) => r.type === "Microsoft.Authorization/roleAssignments")
        .map((r) => ({
          role: inlineVariables(context, String(r.properties.roleDefinitionId)),
          scope: r.scope ?? "",
          name: inlineVariables(context, r.name),
          principalType: r.properties.principalType,
          conditional: r.condition !== undefined,
        }));
    const moduleTemplate = () => workspaceModule.properties.template as ArmTemplate;
    const moduleResources = () => moduleTemplate().resources;

    it.each([
      ["Storage Blob Data Owner", ROLE.storageBlobDataOwner, "Microsoft.Storage/storageAccounts"],
      ["Storage Table Data Contributor", ROLE.storageTableDataContributor, "Microsoft.Storage/storageAccounts"],
      ["Monitoring Metrics Publisher", ROLE.monitoringMetricsPublisher, "Microsoft.Insights/components"],
      ["Key Vault Secrets User", ROLE.keyVaultSecretsUser, "Microsoft.KeyVault/vaults"],
    ])("grants %s (%s) on the %s", (_role, roleId, scopeType) => {
      const found = assignments(template.resources).filter((a) => a.role.includes(`'${roleId}'`));
      expect(found).toHaveLength(1);
      expect(found[0]?.scope).toMatch(new RegExp(`^\\[resourceId\\('${scopeType.replace(/[/.]/g, "\\$&")}'`));
      expect(found[0]?.principalType).toBe("ServicePrincipal");
      // guid(scope, identity, role): the same assignment on every redeployment.
      expect(found[0]?.name).toMatch(
        new RegExp(`^\\[guid\\(resourceId\\('${scopeType.replace(/[/.]/g, "\\$&")}'.*'${roleId}'\\)\\]$`),
      );
    });

    it.each([
      ["Log Analytics Reader", ROLE.logAnalyticsReader, false],
      ["Microsoft Sentinel Responder", ROLE.sentinelResponder, true],
    ])("grants %s (%s) on the Sentinel workspace, through the module", (_role, roleId, onlyForSentinel) => {
      const found = assignments(moduleResources(), moduleTemplate()).filter((a) => a.role.includes(`'${roleId}'`));
      expect(found).toHaveLength(1);
      expect(found[0]?.scope).toBe(
        "[resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspaceName'))]",
      );
      expect(found[0]?.principalType).toBe("ServicePrincipal");
      expect(found[0]?.name).toContain("parameters('principalId')");
      expect(found[0]?.conditional).toBe(onlyForSentinel);
    });

    it("grants nothing else, and nothing on a resource group or subscription", () => {
      expect(assignments(template.resources)).toHaveLength(4);
      expect(assignments(moduleResources())).toHaveLength(2);
      expect([...assignments(template.resources), ...assignments(moduleResources())].filter((a) => !a.scope)).toEqual(
        [],
      );
    });

    it("deploys the workspace module to the workspace's own subscription and resource group", () => {
      expect(template.variables.workspaceIdParts).toBe("[split(parameters('sentinelWorkspaceResourceId'), '/')]");
      expect(workspaceModule.subscriptionId).toBe("[variables('workspaceIdParts')[2]]");
      expect(workspaceModule.resourceGroup).toBe("[variables('workspaceIdParts')[4]]");
      expect(workspaceModule.properties.parameters?.workspaceName).toEqual({
        value: "[variables('workspaceIdParts')[8]]",
      });
    });
  });

  describe("secrets", () => {
    it("writes the webhook URL into Key Vault only, and only when one is given", () => {
      const users = template.resources.filter((r) => JSON.stringify(r).includes("parameters('teamsWebhookUrl')"));
      expect(users.map((r) => r.type)).toEqual(["Microsoft.KeyVault/vaults/secrets"]);
      expect(users[0]?.condition).toBe("[not(empty(parameters('teamsWebhookUrl')))]");
      expect(template.parameters.teamsWebhookUrl?.defaultValue).toBe("");
    });

    it("puts no secret in any output", () => {
      const outputs = JSON.stringify(template.outputs ?? {});
      expect(outputs).not.toMatch(/teamsWebhookUrl|ConnectionString|listKeys|vaults\/secrets/i);
      expect(JSON.stringify(workspaceModule.properties.template?.outputs ?? {})).not.toMatch(/secret|key/i);
    });
  });

  describe("alerts", () => {
    const rules = () => template.resources.filter((r) => r.type === "Microsoft.Insights/scheduledQueryRules");
    const rule = (displayName: RegExp): ArmResource => {
      const found = rules().filter((r) => displayName.test(String(r.properties.displayName)));
      expect(found).toHaveLength(1);
      return found[0] as ArmResource;
    };
    const queryOf = (r: ArmResource): string => {
      const criterion = (r.properties.criteria as { allOf: { query: string }[] }).allOf[0];
      return inlineVariables(template, criterion?.query ?? "");
    };

    // The columns the alert queries read, as Application Insights names and types them (classic schema, which
    // a log alert scoped to the component queries).
    const appInsightsTables: KqlTable[] = [
      {
        table: "requests",
        columns: [
          { name: "timestamp", type: "datetime" },
          { name: "name", type: "string" },
          { name: "success", type: "bool" },
          { name: "operation_Name", type: "string" },
        ],
      },
      {
        table: "traces",
        columns: [
          { name: "timestamp", type: "datetime" },
          { name: "message", type: "string" },
          { name: "severityLevel", type: "int" },
          { name: "operation_Name", type: "string" },
        ],
      },
    ];
    /** The query as the rule will run it: the template's replace() of its placeholder, done here. */
    const renderedQuery = (r: ArmResource, placeholderValue: string): string => {
      const criterion = (r.properties.criteria as { allOf: { query: string }[] }).allOf[0];
      const match = /^\[replace\(variables\('(\w+)'\), '(\w+)', .+\)\]$/.exec(criterion?.query ?? "");
      expect(match, "the query is a variable with one placeholder").not.toBeNull();
      const [, variable, placeholder] = match as RegExpExecArray;
      return String(template.variables[variable as string]).replaceAll(placeholder as string, placeholderValue);
    };

    it("query Application Insights in KQL that the Kusto language service accepts", () => {
      const queries = [
        renderedQuery(rule(/failed/i), String(template.variables.functionName)),
        renderedQuery(rule(/no successful run/i), "2026-12-03T19:00:00.0000000Z"),
      ];
      expect(queries.map((q) => analyzeKql(q, appInsightsTables).errors)).toEqual([[], []]);
    });

    it("look for the function under the name the code registers", () => {
      const source = readFileSync(join("src", "functions", "staleIdentityHunt.ts"), "utf8");
      const registered = /app\.timer\("(\w+)"/.exec(source)?.[1];
      expect(template.variables.functionName).toBe(registered);
    });

    it("e-mails the alert address through one action group", () => {
      const group = only("Microsoft.Insights/actionGroups");
      expect(group.properties.emailReceivers).toEqual([
        expect.objectContaining({ emailAddress: "[parameters('alertEmail')]" }),
      ]);
      expect(rules()).toHaveLength(2);
      for (const r of rules()) {
        expect(r.properties.actions).toEqual({
          actionGroups: ["[resourceId('Microsoft.Insights/actionGroups', variables('names').actionGroup)]"],
        });
        expect(r.properties.scopes).toEqual([
          "[resourceId('Microsoft.Insights/components', variables('names').appInsights)]",
        ]);
      }
    });

    it("alert on a failed invocation or a failed run summary", () => {
      const failed = rule(/failed/i);
      const query = queryOf(failed);
      expect(query).toContain("success == false");
      expect(query).toContain('tostring(summary.status) == "failed"');
      expect(query).toContain("staleIdentityHunt.summary");
      expect(failed.properties.criteria).toMatchObject({
        allOf: [{ timeAggregation: "Count", operator: "GreaterThan", threshold: 0 }],
      });
    });

    it("alert when no run succeeded in 26 hours, counting done and pending as success", () => {
      const missed = rule(/no successful run/i);
      const query = queryOf(missed);
      expect(query).toContain("ago(26h)");
      expect(query).toContain('tostring(summary.status) in ("done", "pending")');
      expect(missed.properties.criteria).toMatchObject({
        allOf: [{ timeAggregation: "Count", operator: "LessThan", threshold: 1 }],
      });
      // The evaluated window must hold the query's 26 hours.
      expect(missed.properties.windowSize).toBe("P2D");
    });
  });
});
