#!/usr/bin/env bash
# Grants the detector's managed identity the Microsoft Graph application permission its enrichment needs
# (Application.Read.All). A Bicep template cannot do this offline: it is an app role assignment in Entra ID, made
# here through the Graph API with the Azure CLI's login. Safe to run again: an existing grant is left alone.
#
#   infra/grant-graph-permissions.sh <principal-id>
#   infra/grant-graph-permissions.sh --resource-group <rg> [--deployment <name>]
#
# <principal-id> is the object id of the identity's service principal: the deployment output
# AZURE_IDENTITY_PRINCIPAL_ID. Run it as someone who may grant application permissions (Privileged Role
# Administrator, or Global Administrator), signed in with `az login` to the identity's tenant.
set -euo pipefail

# Microsoft Graph's application id, the same in every tenant and cloud.
readonly GRAPH_APP_ID=00000003-0000-0000-c000-000000000000
readonly PERMISSIONS=(Application.Read.All)

usage() {
  sed -n '6,7p' "$0" | sed 's/^# *//' >&2
  exit 2
}

principal_id=""
resource_group=""
deployment="main"
while [ $# -gt 0 ]; do
  case "$1" in
    --resource-group | -g)
      resource_group=${2:?--resource-group needs a value}
      shift 2
      ;;
    --deployment | -n)
      deployment=${2:?--deployment needs a value}
      shift 2
      ;;
    -h | --help) usage ;;
    -*)
      echo "unknown option: $1" >&2
      usage
      ;;
    *)
      principal_id=$1
      shift
      ;;
  esac
done

if ! command -v az >/dev/null 2>&1; then
  echo "The Azure CLI (az) is not installed; install it and sign in with az login." >&2
  exit 1
fi

if [ -z "$principal_id" ]; then
  [ -n "$resource_group" ] || usage
  principal_id=$(az deployment group show --resource-group "$resource_group" --name "$deployment" \
    --query properties.outputs.AZURE_IDENTITY_PRINCIPAL_ID.value --output tsv)
  if [ -z "$principal_id" ]; then
    echo "Deployment $deployment in resource group $resource_group has no output AZURE_IDENTITY_PRINCIPAL_ID;" \
      "pass the identity's principal id instead." >&2
    exit 1
  fi
fi
if ! [[ "$principal_id" =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]]; then
  echo "Expected the identity's principal (object) id, a GUID; got \"$principal_id\"." >&2
  exit 2
fi

# The Graph endpoint of the cloud the CLI is signed in to (public, US Gov, China), with no trailing slash.
graph=$(az cloud show --query endpoints.microsoftGraphResourceId --output tsv)
graph=${graph%/}

graph_sp_id=$(az ad sp show --id "$GRAPH_APP_ID" --query id --output tsv)
assigned=$(az rest --method GET \
  --url "$graph/v1.0/servicePrincipals/$principal_id/appRoleAssignments?\$select=appRoleId,resourceId" \
  --query "value[?resourceId=='$graph_sp_id'].appRoleId" --output tsv)

for permission in "${PERMISSIONS[@]}"; do
  role_id=$(az ad sp show --id "$GRAPH_APP_ID" \
    --query "appRoles[?value=='$permission' && contains(allowedMemberTypes, 'Application')].id | [0]" --output tsv)
  if [ -z "$role_id" ]; then
    echo "Microsoft Graph has no application permission named $permission in this tenant." >&2
    exit 1
  fi
  if grep -qix "$role_id" <<<"$assigned"; then
    echo "$permission: already granted to $principal_id"
    continue
  fi
  az rest --method POST \
    --url "$graph/v1.0/servicePrincipals/$principal_id/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}" \
    --output none
  echo "$permission: granted to $principal_id"
done
echo "Tokens the identity already holds keep their old permissions for up to 24 hours (managed identity tokens are cached)."
