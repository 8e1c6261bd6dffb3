/**
 * A loopback HTTP proxy in front of Azurite that counts what reaches the table service, so the benchmark's
 * request figures come from the wire, not from the code under test (whose own counter it cross-checks).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Agent, createServer, request } from "node:http";

export interface StorageCounts {
  /** GET and HEAD: the lease read, each page of identity rows. */
  reads: number;
  /** Single-entity writes outside a transaction: the lease take, creating the table. */
  writes: number;
  /** Entity group transactions (`$batch`): one HTTP request each, however many rows they carry. */
  batches: number;
  /** Entity operations inside those transactions. */
  batchRows: number;
  /** Of those, operations on identity rows (PartitionKey 'identity'). */
  identityRows: number;
}

export interface CountingProxy {
  /** The connection string to give the detector: Azurite's, with the proxy's port. */
  connectionString: string;
  counts(): StorageCounts;
  reset(): void;
  stop(): Promise<void>;
}

const zero = (): StorageCounts => ({ reads: 0, writes: 0, batches: 0, batchRows: 0, identityRows: 0 });

/** Each operation of a transaction is one request line inside its multipart body. */
const OPERATION = /^(?:POST|PUT|PATCH|MERGE|DELETE) (\S+) HTTP\/1\.1\r?$/gm;

export async function startCountingProxy(azuriteConnectionString: string): Promise<CountingProxy> {
  const endpoint = /TableEndpoint=([^;]+)/.exec(azuriteConnectionString)?.[1];
  if (!endpoint) throw new Error("The Azurite connection string names no TableEndpoint");
  const upstream = new URL(endpoint);
  const agent = new Agent({ keepAlive: true });
  let counts = zero();

  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.once("error", (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    if (body) out.end(body);
    else req.pipe(out);
  };

  const server = createServer((req, res) => {
    if (req.method === "GET" || req.method === "HEAD") {
      counts.reads++;
      return forward(req, res);
    }
    if (!req.url?.split("?")[0]?.endsWith("/$batch")) {
      counts.writes++;
      return forward(req, res);
    }
    counts.batches++;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      for (const [, url] of body.toString("utf8").matchAll(OPERATION)) {
        counts.batchRows++;
        if (/PartitionKey='identity'/.test(decodeURIComponent(url ?? ""))) counts.identityRows++;
      }
      forward(req, res, body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("The counting proxy has no port");
  const proxied = new URL(endpoint);
  proxied.port = String(address.port);

  return {
    connectionString: azuriteConnectionString.replace(endpoint, proxied.toString().replace(/\/$/, "")),
    counts: () => ({ ...counts }),
    reset: () => {
      counts = zero();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
