import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback HTTP proxy in front of Azurite's table service, so a test can act at the n-th Table request:
 * kill the client before the request reaches storage, while half of its body has (the connection to storage
 * is then cut, as when a process dies mid-upload), or after storage has applied it but before the client
 * hears so. Requests are counted from 1 as they arrive, retries included.
 */

/** before, during, after: act, and never answer. hold: wait for act, then forward as usual. */
export type ProxyMoment = "before" | "during" | "after" | "hold";

export interface ProxiedRequest {
  n: number;
  method: string;
  /** Path and query, as the client sent them. */
  url: string;
  body: Buffer;
}

/** What to do at a request: run `act` at `moment`; the client then never gets an answer. Undefined: forward. */
export type ProxyFault = (
  request: ProxiedRequest,
) => { moment: ProxyMoment; act: () => void | Promise<void> } | undefined;

export interface TableProxy {
  /** A connection string for Azurite's dev account with its TableEndpoint on the proxy. */
  connectionString: string;
  requests: ProxiedRequest[];
  fault: ProxyFault | undefined;
  /** Stops listening and drops every connection: to clients, storage has gone away. */
  close(): Promise<void>;
}

export async function startTableProxy(azuriteConnectionString: string): Promise<TableProxy> {
  const endpoint = /TableEndpoint=([^;]+)/.exec(azuriteConnectionString)?.[1];
  if (!endpoint) throw new Error("the connection string has no TableEndpoint");
  const target = new URL(endpoint);
  const requests: ProxiedRequest[] = [];
  let proxy: TableProxy | undefined;

  const forward = (req: IncomingMessage, body: Buffer, half = false) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
      (resolve, reject) => {
        const upstream = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: target.host },
          },
          async (res) => {
            const chunks: Buffer[] = [];
            for await (const chunk of res) chunks.push(chunk as Buffer);
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) });
          },
        );
        upstream.once("error", reject);
        if (half) {
          upstream.write(body.subarray(0, Math.floor(body.length / 2)));
          resolve({ status: 0, headers: {}, body: Buffer.alloc(0) });
          // Storage sees the request start and its connection cut before the body is complete.
          setImmediate(() => upstream.destroy());
          return;
        }
        upstream.end(body);
      },
    );

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: ProxiedRequest = {
      n: requests.length + 1,
      method: req.method ?? "",
      url: req.url ?? "",
      body: Buffer.concat(chunks),
    };
    requests.push(request);
    const fault = proxy?.fault?.(request);
    try {
      if (fault?.moment === "before") return void (await fault.act());
      if (fault?.moment === "during") {
        await forward(req, request.body, true).catch(() => undefined);
        return void (await fault.act());
      }
      if (fault?.moment === "hold") await fault.act();
      const answer = await forward(req, request.body);
      if (fault?.moment === "after") return void (await fault.act());
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    } catch {
      // Storage itself is unreachable: the client sees its connection reset.
      res.socket?.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed = false;
  proxy = {
    connectionString: azuriteConnectionString.replace(
      /TableEndpoint=[^;]+/,
      `TableEndpoint=http://127.0.0.1:${port}${target.pathname.replace(/\/$/, "")}`,
    ),
    requests,
    fault: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return proxy;
}
