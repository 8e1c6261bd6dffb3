#!/usr/bin/env bash
# Brings the Bicep CLI from NuGet into .local/bicep and prints its path. Idempotent: a present CLI of the pinned
# version is reused. The infra tests find it at that path (or through BICEP_CLI, or on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so that every machine lints with the same rules; raise it together with the infra tests.
version=0.49.2
package=azure.bicep.commandline.linux-x64
root=.local/bicep
cli="$root/packages/$package/$version/tools/bicep"

if [ -x "$cli" ] && "$cli" --version >/dev/null 2>&1; then
  echo "$PWD/$cli"
  exit 0
fi
if ! command -v dotnet >/dev/null 2>&1; then
  echo "bicep-cli.sh: dotnet is not installed; it is needed to restore the Bicep CLI package from NuGet" >&2
  exit 1
fi

# A throwaway project whose only job is to make `dotnet restore` download the package.
mkdir -p "$root/restore"
cat >"$root/restore/restore.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net$(dotnet --version | cut -d. -f1-2)</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$version]" />
  </ItemGroup>
</Project>
CSPROJ
DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
  dotnet restore "$root/restore/restore.csproj" --packages "$root/packages" >&2
# The package's zip does not keep the executable bit.
chmod +x "$cli"
"$cli" --version >&2
echo "$PWD/$cli"
