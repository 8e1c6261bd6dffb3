import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path and query string, as the client sent them. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface PeerResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON-encoded unless it is a string, which is sent as is. */
  body?: unknown;
}

export interface Peer {
  /** Like http://127.0.0.1:PORT, without a trailing slash. */
  url: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Stops the server; rejects with the handler's first error, if it threw. */
  close(): Promise<void>;
}

/** What a handler returns for a request the service never answers; close() drops the open connection. */
export const HANG: unique symbol = Symbol("hang");
/** What a handler returns to drop the connection without an answer, as a reset by a middlebox or a crash. */
export const RESET: unique symbol = Symbol("reset");
export type PeerAnswer = PeerResponse | typeof HANG | typeof RESET;

/** A loopback HTTP server that stands in for an Azure service: it records each request and answers with `handler`. */
export async function startPeer(
  handler: (request: RecordedRequest) => PeerAnswer | Promise<PeerAnswer>,
): Promise<Peer> {
  const requests: RecordedRequest[] = [];
  let handlerError: unknown;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: RecordedRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    };
    requests.push(request);

    let response: PeerAnswer;
    try {
      response = await handler(request);
    } catch (error) {
      // Answer anyway so the client under test does not hang; close() reports the error so the test still fails
      // even when it expected the client to fail.
      handlerError ??= error;
      response = { status: 500, body: { error: { code: "PeerHandlerError", message: String(error) } } };
    }
    // The client waits until it gives up, or until close() destroys the connection.
    if (response === HANG) return;
    if (response === RESET) {
      res.socket?.resetAndDestroy();
      return;
    }
    const json = response.body !== undefined && typeof response.body !== "string";
    const body = response.body === undefined ? "" : json ? JSON.stringify(response.body) : String(response.body);
    res.writeHead(response.status, {
      ...(json ? { "content-type": "application/json; charset=utf-8" } : {}),
      "content-length": String(Buffer.byteLength(body)),
      ...response.headers,
    });
    res.end(body);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Clients keep connections alive; without this, close() waits for them to time out.
        server.closeAllConnections();
      });
      if (handlerError !== undefined) throw handlerError;
    },
  };
}
