#!/usr/bin/env bash
# Builds the deployment package for publishing without azd: the compiled app, host.json, package.json and the
# production dependencies only, zipped to .local/app.zip (or the path given). Publish it with
#   az functionapp deployment source config-zip --resource-group <rg> --name <app> --src .local/app.zip
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-.local/app.zip}
stage=.local/package
command -v zip >/dev/null 2>&1 || {
  echo "package-app.sh: zip is not installed (apt-get install zip)" >&2
  exit 1
}

npm run build --silent
rm -rf "$stage"
mkdir -p "$stage" "$(dirname "$out")"
cp -R dist host.json package.json package-lock.json "$stage/"
# No devDependencies (test tools, Azurite, the Kusto language service): only what dist/ imports at run time.
(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
rm -f "$out"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$stage" && zip -qr "$out_abs" .)
echo "$out_abs"
