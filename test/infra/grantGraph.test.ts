import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const SCRIPT = resolve("infra", "grant-graph-permissions.sh");
const PRINCIPAL = "11111111-2222-3333-4444-555555555555";
const GRAPH_SP = "99999999-0000-0000-0000-000000000001";
const APP_READ_ALL = "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30";

/**
 * A stand-in for the Azure CLI: answers the few calls the script makes as `az` would with `--output tsv`, and
 * records every call. The answers follow the CLI's documented output for these commands; nothing reaches Azure.
 */
const FAKE_AZ = `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$*" >>"$FAKE_AZ_LOG"
case "$*" in
  "cloud show"*) echo "https://graph.microsoft.com/" ;;
  "deployment group show"*) echo "$FAKE_AZ_DEPLOYED_PRINCIPAL" ;;
  "ad sp show --id 00000003-0000-0000-c000-000000000000 --query id"*) echo "${GRAPH_SP}" ;;
  "ad sp show --id 00000003-0000-0000-c000-000000000000 --query appRoles"*) echo "${APP_READ_ALL}" ;;
  "rest --method GET"*) if [ -n "$FAKE_AZ_ASSIGNED" ]; then printf '%s\\n' "$FAKE_AZ_ASSIGNED"; fi ;;
  "rest --method POST"*) ;;
  *) echo "fake az: unexpected call: $*" >&2; exit 1 ;;
esac
`;

describe("infra/grant-graph-permissions.sh", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "fake-az-"));
    writeFileSync(join(dir, "az"), FAKE_AZ);
    chmodSync(join(dir, "az"), 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[], state: { assigned?: string; deployed?: string } = {}) => {
    const log = join(dir, "calls.log");
    writeFileSync(log, "");
    const result = spawnSync("bash", [SCRIPT, ...args], {
      encoding: "utf8",
      env: {
        PATH: `${dir}${delimiter}${process.env.PATH ?? ""}`,
        FAKE_AZ_LOG: log,
        FAKE_AZ_ASSIGNED: state.assigned ?? "",
        FAKE_AZ_DEPLOYED_PRINCIPAL: state.deployed ?? "",
      },
    });
    const calls = readFileSync(log, "utf8").split("\n").filter(Boolean);
    return { ...result, calls, posts: calls.filter((c) => c.startsWith("rest --method POST")) };
  };

  it("is valid bash", () => {
    expect(spawnSync("bash", ["-n", SCRIPT]).status).toBe(0);
  });

  it("grants Application.Read.All once, as an app role assignment of the identity's service principal", () => {
    const result = run([PRINCIPAL]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.posts).toHaveLength(1);
    expect(result.posts[0]).toContain(
      `--url https://graph.microsoft.com/v1.0/servicePrincipals/${PRINCIPAL}/appRoleAssignments `,
    );
    const body = /--body (\{.*\})/.exec(result.posts[0] ?? "")?.[1];
    expect(JSON.parse(body ?? "null")).toEqual({
      principalId: PRINCIPAL,
      resourceId: GRAPH_SP,
      appRoleId: APP_READ_ALL,
    });
    expect(result.stdout).toContain(`Application.Read.All: granted to ${PRINCIPAL}`);
  });

  it.each([
    ["the same role id", APP_READ_ALL],
    ["the role id in upper case, among others", `00000000-0000-0000-0000-000000000000\n${APP_READ_ALL.toUpperCase()}`],
  ])("leaves an existing grant alone (%s)", (_case, assigned) => {
    const result = run([PRINCIPAL], { assigned });
    expect(result.status).toBe(0);
    expect(result.posts).toEqual([]);
    expect(result.stdout).toContain("Application.Read.All: already granted");
  });

  it("reads the principal id from the deployment's output when given a resource group", () => {
    const result = run(["--resource-group", "rg-detector"], { deployed: PRINCIPAL });
    expect(result.status).toBe(0);
    expect(result.calls[0]).toBe(
      "deployment group show --resource-group rg-detector --name main --query properties.outputs.AZURE_IDENTITY_PRINCIPAL_ID.value --output tsv",
    );
    expect(result.posts).toHaveLength(1);
  });

  it.each([
    ["a value that is not a GUID", ["not-a-guid"], 2],
    ["no argument at all", [], 2],
  ])("refuses %s before calling Graph", (_case, args, status) => {
    const result = run(args);
    expect(result.status).toBe(status);
    expect(result.calls.filter((c) => c.startsWith("rest"))).toEqual([]);
  });
});
