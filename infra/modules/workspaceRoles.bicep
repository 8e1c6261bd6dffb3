// The Sentinel / Log Analytics workspace usually lives in the SOC's own resource group or subscription, so its two
// role assignments are made here, in a module deployed to that resource group. The workspace itself is only read.

@description('Name of the existing Log Analytics workspace with Microsoft Sentinel.')
param workspaceName string

@description('Object (principal) id of the Function\'s user-assigned managed identity.')
param principalId string

@description('Whether the identity creates Sentinel incidents (NOTIFY_CHANNELS includes sentinel).')
param grantSentinelResponder bool

var roles = {
  // Log Analytics Reader: the hunt's read-only query of the sign-in, audit and activity tables.
  logAnalyticsReader: '73c42c96-874c-492b-b04d-ab87d138a893'
  // Microsoft Sentinel Responder: the least-privileged role that can create and update incidents.
  sentinelResponder: '3e150937-b8fe-4cfb-8069-0eaf05ecd056'
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

resource logAnalyticsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, roles.logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.logAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource sentinelResponder 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantSentinelResponder) {
  name: guid(workspace.id, principalId, roles.sentinelResponder)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.sentinelResponder)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Workspace (customer) id: what LOG_ANALYTICS_WORKSPACE_ID needs, read here so nobody has to copy it.')
output customerId string = workspace.properties.customerId
