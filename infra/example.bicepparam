// Parameters for `az deployment group create --resource-group <rg> --parameters infra/example.bicepparam`.
// Copy it, fill in your values; every other parameter of main.bicep has a default. The Teams webhook URL is a
// secret: it is read from the environment of the deploying shell, never written here (see the README).
using 'main.bicep'

param environmentName = 'prod'
param sentinelWorkspaceResourceId = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sentinel/providers/Microsoft.OperationalInsights/workspaces/law-sentinel'
param alertEmail = 'soc@example.com'
param notifyChannels = 'teams,sentinel'
param timerSchedule = '0 0 6 * * *'

// Empty (not set) leaves the secret already in Key Vault as it is.
param teamsWebhookUrl = readEnvironmentVariable('TEAMS_WEBHOOK_URL', '')
