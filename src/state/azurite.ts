import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";

/** Azurite's documented development account; it is public and grants nothing outside the emulator. */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface RunningAzurite {
  connectionString: string;
  stop(): Promise<void>;
}

/**
 * Starts Azurite's table service on a free loopback port, keeping its data in `dir` (or in memory), so local
 * runs and tests need no manual step. Azurite is a development dependency: a deployed app never loads it.
 */
export async function startAzurite(dir: string | undefined): Promise<RunningAzurite> {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve("azurite/dist/src/table/main.js");
  } catch {
    throw new Error("Azurite is not installed: run `npm ci` in the project (it is a development dependency)");
  }
  if (dir) mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = [main, "--tableHost", "127.0.0.1", "--tablePort", String(port), "--silent", "--disableTelemetry"];
  args.push(...(dir ? ["--location", dir] : ["--inMemoryPersistence"]));
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });

  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error("did not start within 30 s")), 30_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill();
      reject(new Error(`Azurite (table service on 127.0.0.1:${port}): ${error.message}\n${output.trim()}`));
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/successfully (started|listening)/i.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", fail);
    child.once("exit", (code) => fail(new Error(`exited with code ${code} before it was ready`)));
  });
  child.removeAllListeners("exit");

  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    // SIGINT is Azurite's clean shutdown, which saves its database; SIGTERM would drop the last few seconds of
    // writes, and with them a short run's whole state.
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(force);
          resolve();
        });
        child.kill("SIGINT");
      }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
