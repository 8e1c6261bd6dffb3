// Everything the stale managed identity detector needs, in one resource group, next to an existing Sentinel
// workspace that may live in another resource group or subscription. Deployed by `azd up` (azure.yaml) or
// `az deployment group create`; see the README's "Deploying" section. No registry modules and no extensions:
// the template compiles offline.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(40)
@description('A name for this deployment (azd: the environment name). Only seeds the unique suffix of resource names.')
param environmentName string

@description('Region of the new resources. Must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@minLength(1)
@description('ARM resource id of the Log Analytics workspace with Microsoft Sentinel: the hunt queries it and incidents are created in it. /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>')
param sentinelWorkspaceResourceId string

@minLength(3)
@description('E-mail address that receives the failure and missed-run alerts.')
param alertEmail string

@description('Channels that receive new risky findings: teams, sentinel, both (comma-separated) or none.')
param notifyChannels string = 'teams,sentinel'

@secure()
@description('Teams Workflows webhook URL. Written to Key Vault only; leave empty to keep the secret already there (or to set it later with az keyvault secret set).')
param teamsWebhookUrl string = ''

@allowed(['public', 'usgov', 'china'])
@description('Azure cloud the detector talks to. Default: the cloud this template is deployed in.')
param azureCloud string = {
  AzureCloud: 'public'
  AzureUSGovernment: 'usgov'
  AzureChinaCloud: 'china'
}[?environment().name] ?? 'public'

@minValue(1)
@maxValue(730)
@description('Days of history the hunt reads (HUNT_LOOKBACK_DAYS).')
param huntLookbackDays int = 180

@minValue(1)
@maxValue(179)
@description('Days without a sign-in after which an identity is stale (HUNT_STALE_THRESHOLD_DAYS).')
param huntStaleThresholdDays int = 90

@description('Comma-separated IPv4 CIDR ranges whose sign-ins do not count as use (HUNT_ALLOWLISTED_IP_RANGES).')
param huntAllowlistedIpRanges string = ''

@minValue(1)
@maxValue(600)
@description('Seconds Log Analytics may spend on the query (HUNT_SERVER_TIMEOUT_SECONDS).')
param huntServerTimeoutSeconds int = 180

@minValue(30)
// host.json's functionTimeout is 10 minutes; the run's lease outlives its budget by 60 s.
@maxValue(540)
@description('Wall-clock budget of one run in seconds (RUN_TIME_BUDGET_SECONDS). At most 540: host.json\'s functionTimeout is 10 minutes.')
param runTimeBudgetSeconds int = 540

@description('NCRONTAB schedule of the timer, seconds first, UTC (TIMER_SCHEDULE). Default: daily at 06:00 UTC.')
param timerSchedule string = '0 0 6 * * *'

@description('Table that holds the detector\'s state (STATE_TABLE_NAME).')
param stateTableName string = 'StaleManagedIdentities'

@description('Overrides of the RiskSignal to incident severity map, e.g. AzureActivityWithoutSignIn=Medium (SENTINEL_SEVERITY_MAP).')
param sentinelSeverityMap string = ''

@allowed(['on', 'off'])
@description('Microsoft Graph enrichment (GRAPH_ENRICHMENT). Needs Application.Read.All: run infra/grant-graph-permissions.sh.')
param graphEnrichment string = 'on'

@description('Endpoint overrides; empty means "from azureCloud", which is right everywhere except behind a proxy.')
param logAnalyticsEndpoint string = ''
param armEndpoint string = ''
param graphEndpoint string = ''
param authorityHost string = ''

@description('When this deployment ran. The missed-run alert stays quiet for 26 hours after it, until the first run could have happened.')
param deployedAt string = utcNow('o')

param tags object = {}

// ---------------------------------------------------------------------------------------------------------------
// Names and shared values
// ---------------------------------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var names = {
  identity: 'id-stalemi-${token}'
  storage: 'ststalemi${take(token, 13)}'
  logAnalytics: 'log-stalemi-${token}'
  appInsights: 'appi-stalemi-${token}'
  keyVault: 'kv-stalemi-${take(token, 11)}'
  plan: 'plan-stalemi-${token}'
  functionApp: 'func-stalemi-${token}'
  actionGroup: 'ag-stalemi-${token}'
}
// The package container of the Flex Consumption deployment: azd and `az functionapp deployment` upload here.
var deploymentContainerName = 'app-package'
var teamsSecretName = 'teams-webhook-url'
var functionName = 'staleIdentityHunt'

// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}
var workspaceIdParts = split(sentinelWorkspaceResourceId, '/')
var channels = map(split(toLower(notifyChannels), ','), c => trim(c))
var sendsToTeams = contains(channels, 'teams')
var sendsToSentinel = contains(channels, 'sentinel')

var allTags = union(tags, { 'azd-env-name': environmentName })

var roles = {
  // Storage Blob Data Owner: the Functions host's keys and timer leases, and the deployment package container.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Storage Table Data Contributor: the detector's state table (rows, lease, run records).
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Monitoring Metrics Publisher: sending telemetry to Application Insights with Entra ID (local auth is off).
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  // Key Vault Secrets User: resolving the TEAMS_WEBHOOK_URL Key Vault reference.
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}
// No Storage Queue Data Contributor: a timer-only app needs no queues (the host uses blobs for its leases).

// ---------------------------------------------------------------------------------------------------------------
// Identity, storage, telemetry, secrets
// ---------------------------------------------------------------------------------------------------------------

// One user-assigned identity for everything: host storage, deployment, telemetry, Key Vault, and the code's own
// calls (AZURE_CLIENT_ID). It outlives the app, so its role grants and Graph permission survive a re-created app.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: names.identity
  location: location
  tags: allTags
}

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: names.storage
  location: location
  tags: allTags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    // Identity only: no account key can be used, so none can leak.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    // Flex Consumption apps without a virtual network reach storage over public endpoints.
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

// The code creates the table if it is missing; creating it here makes the state visible from the first deployment.
resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = {
  parent: tableService
  name: stateTableName
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: names.logAnalytics
  location: location
  tags: allTags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.appInsights
  location: location
  tags: allTags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Telemetry only with an Entra token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), never the bare key.
    DisableLocalAuth: true
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2026-02-01' = {
  name: names.keyVault
  location: location
  tags: allTags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    // Azure RBAC instead of access policies: the identity gets Key Vault Secrets User and nothing else.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // A deleted webhook secret can be recovered, never purged early. The vault name stays taken while deleted.
    enablePurgeProtection: true
    // Flex Consumption has no fixed outbound addresses to allow-list; access is by identity.
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

// Only written when given, so a redeployment without the parameter keeps the secret already in the vault.
resource teamsWebhookSecret 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = if (!empty(teamsWebhookUrl)) {
  parent: keyVault
  name: teamsSecretName
  properties: {
    value: teamsWebhookUrl
    contentType: 'Teams Workflows webhook URL'
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Role assignments (names: guid(scope, identity, role), so a redeployment finds the same assignment)
// ---------------------------------------------------------------------------------------------------------------

// Storage Blob Data Owner on the storage account.
resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor on the storage account.
resource storageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.storageTableDataContributor
    )
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher on Application Insights.
resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      roles.monitoringMetricsPublisher
    )
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets User on the vault (it holds nothing but the webhook URL).
resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Log Analytics Reader and Microsoft Sentinel Responder on the Sentinel workspace, in its own resource group.
module workspaceRoles 'modules/workspaceRoles.bicep' = {
  name: 'workspaceRoles-${token}'
  scope: resourceGroup(workspaceIdParts[2], workspaceIdParts[4])
  params: {
    workspaceName: workspaceIdParts[8]
    principalId: identity.properties.principalId
    grantSentinelResponder: sendsToSentinel
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The Function app (Flex Consumption, Linux, Node 22)
// ---------------------------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: names.plan
  location: location
  tags: allTags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2025-03-01' = {
  name: names.functionApp
  location: location
  // azd finds the app it deploys the `app` service to by this tag.
  tags: union(allTags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (the default would be a system identity).
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      runtime: { name: 'node', version: '22' }
      scaleAndConcurrency: {
        // One timer, one instance at a time: the cap only bounds cost if something goes wrong.
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
    }
  }
  // The package is read from blob storage with the identity as soon as the app starts.
  dependsOn: [storageBlobDataOwner]
}

// Every setting src/config.ts reads (a test compares the two lists), then the host's own. A separate resource so
// that the settings can use the module's output (the workspace's customer id).
resource appSettings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    LOG_ANALYTICS_WORKSPACE_ID: workspaceRoles.outputs.customerId
    AZURE_CLOUD: azureCloud
    LOG_ANALYTICS_ENDPOINT: logAnalyticsEndpoint
    // The code authenticates as the user-assigned identity, not a system-assigned one.
    AZURE_CLIENT_ID: identity.properties.clientId
    HUNT_LOOKBACK_DAYS: string(huntLookbackDays)
    HUNT_STALE_THRESHOLD_DAYS: string(huntStaleThresholdDays)
    HUNT_ALLOWLISTED_IP_RANGES: huntAllowlistedIpRanges
    HUNT_SERVER_TIMEOUT_SECONDS: string(huntServerTimeoutSeconds)
    // State through the identity; STATE_CONNECTION (a key-bearing connection string) is for local runs only.
    STATE_TABLE_ENDPOINT: storage.properties.primaryEndpoints.table
    STATE_TABLE_NAME: stateTable.name
    NOTIFY_CHANNELS: notifyChannels
    // A Key Vault reference, resolved by the host with keyVaultReferenceIdentity. Empty without Teams: an
    // unresolvable reference would otherwise fail every run.
    TEAMS_WEBHOOK_URL: sendsToTeams
      ? '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${teamsSecretName}/)'
      : ''
    SENTINEL_WORKSPACE_RESOURCE_ID: sentinelWorkspaceResourceId
    SENTINEL_SEVERITY_MAP: sentinelSeverityMap
    ARM_ENDPOINT: armEndpoint
    GRAPH_ENDPOINT: graphEndpoint
    GRAPH_ENRICHMENT: graphEnrichment
    AUTHORITY_HOST: authorityHost
    TIMER_SCHEDULE: timerSchedule
    RUN_TIME_BUDGET_SECONDS: string(runTimeBudgetSeconds)

    // The host's own. On Flex Consumption the runtime comes from functionAppConfig: no FUNCTIONS_WORKER_RUNTIME
    // or FUNCTIONS_EXTENSION_VERSION. Host storage by identity, no connection string; blobs only (timer leases).
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  }
  // The host reads its storage, telemetry and the secret with these roles from its first start.
  dependsOn: [
    storageBlobDataOwner
    storageTableDataContributor
    monitoringMetricsPublisher
    keyVaultSecretsUser
    teamsWebhookSecret
  ]
}

// Publishing goes through Entra ID (azd, az functionapp deployment), never FTP or basic-auth credentials.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: functionApp
  name: 'ftp'
  properties: { allow: false }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: functionApp
  name: 'scm'
  properties: { allow: false }
}

// ---------------------------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------------------------

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: names.actionGroup
  location: 'global'
  tags: allTags
  properties: {
    groupShortName: 'stale-mi'
    enabled: true
    emailReceivers: [
      {
        name: 'security-operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// The timer logs one JSON line per run ({"event":"staleIdentityHunt.summary","status":...}) and throws when the
// run failed, so a failure shows both as a failed request and as a "failed" summary line. A settings error fails
// the invocation before any summary is logged: the requests half catches it.
var failedRunQuery = '''
union
  (requests | where name == "FUNCTION" and success == false | project timestamp),
  (traces
    | where message contains "staleIdentityHunt.summary"
    | extend summary = parse_json(message)
    | where tostring(summary.event) == "staleIdentityHunt.summary" and tostring(summary.status) == "failed"
    | project timestamp)
'''

resource failedRunAlert 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: 'alert-stalemi-run-failed-${token}'
  location: location
  tags: allTags
  kind: 'LogAlert'
  properties: {
    displayName: 'Stale identity hunt failed'
    description: 'The timer run failed (a failed hunt sends nothing; a run that lost storage stops delivering and the next run completes it). The alert links the failing invocation; its summary line says why.'
    severity: 1
    enabled: true
    scopes: [appInsights.id]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    // Stateful: one notification per failure, resolved once the failure has left the window.
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace(failedRunQuery, 'FUNCTION', functionName)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [actionGroup.id] }
  }
}

// A dead man's switch: fires when no run has succeeded for 26 hours (a daily schedule plus two hours of slack).
// "pending" counts as success: the hunt ran and its state is kept; the undelivered findings go out next run.
// Right after a deployment, a synthetic row stands in for the first run until it could have happened.
var missedRunQuery = '''
let since = ago(26h);
union
  (print timestamp = todatetime("DEPLOYED_AT") | where timestamp > since),
  (traces
    | where timestamp > since and message contains "staleIdentityHunt.summary"
    | extend summary = parse_json(message)
    | where tostring(summary.event) == "staleIdentityHunt.summary" and tostring(summary.status) in ("done", "pending")
    | project timestamp)
'''

resource missedRunAlert 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: 'alert-stalemi-no-successful-run-${token}'
  location: location
  tags: allTags
  kind: 'LogAlert'
  properties: {
    displayName: 'Stale identity hunt: no successful run in 26 hours'
    description: 'No run of the stale identity hunt has succeeded for 26 hours: the app is stopped, failing, or not scheduled (TIMER_SCHEDULE). New risky identities go unreported until it runs again.'
    severity: 1
    enabled: true
    scopes: [appInsights.id]
    evaluationFrequency: 'PT1H'
    // The window must cover the query's own 26 hours.
    windowSize: 'P2D'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace(missedRunQuery, 'DEPLOYED_AT', deployedAt)
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [actionGroup.id] }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs (azd reads them into its environment; nothing secret)
// ---------------------------------------------------------------------------------------------------------------

output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_RESOURCE_GROUP string = resourceGroup().name
@description('Object id of the identity\'s service principal: the argument of infra/grant-graph-permissions.sh.')
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output AZURE_IDENTITY_CLIENT_ID string = identity.properties.clientId
output AZURE_APP_INSIGHTS_NAME string = appInsights.name
output AZURE_VAULT_NAME string = keyVault.name
output TEAMS_WEBHOOK_SECRET_NAME string = teamsSecretName
