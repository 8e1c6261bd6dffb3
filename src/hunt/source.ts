import { readFile } from "node:fs/promises";
import type { TokenCredential } from "@azure/identity";
import type { LogsTable } from "@azure/monitor-query-logs";
import { LogsQueryClient, LogsQueryResultStatus } from "@azure/monitor-query-logs";
import { isLoopback } from "../config.js";
import type { RawTable } from "./parse.js";

/** Where a hunt result comes from: Log Analytics in production, a saved result for local runs and tests. */
export interface HuntSource {
  /** Names the source in messages: the workspace id or the replay file. */
  readonly description: string;
  run(query: string, timespan: { duration: string }, deadline?: number): Promise<HuntOutput>;
}

export interface HuntOutput {
  table: RawTable;
  /** Query statistics as the service reports them (CPU, rows scanned), for the run summary. */
  statistics?: Record<string, unknown>;
}

export class HuntSourceError extends Error {
  constructor(source: string, cause: string, options?: ErrorOptions) {
    super(`The hunt failed on ${source}: ${cause}. Nothing was changed or sent.`, options);
    this.name = "HuntSourceError";
  }
}

/** Log Analytics returns at most this many rows; a result this long is truncated, not complete. */
export const SERVICE_ROW_LIMIT = 500_000;

export interface LogAnalyticsOptions {
  workspaceId: string;
  endpoint: string;
  serverTimeoutSeconds: number;
  credential: TokenCredential;
  /** Counts requests as they leave, for the run summary. */
  onRequest?: () => void;
}

export class LogAnalyticsSource implements HuntSource {
  readonly description: string;
  private readonly client: LogsQueryClient;

  constructor(private readonly options: LogAnalyticsOptions) {
    this.description = `Log Analytics workspace ${options.workspaceId}`;
    const loopback = isLoopback(new URL(options.endpoint));
    this.client = new LogsQueryClient(options.credential, {
      endpoint: options.endpoint,
      // The token's audience follows the endpoint's cloud (public, US Gov, China).
      credentials: { scopes: [`${new URL(options.endpoint).origin}/.default`] },
      allowInsecureConnection: loopback,
      // The SDK's own retries would hide a slow or throttled workspace inside one long call; one retry is enough
      // for a daily job, the next run is the real retry.
      retryOptions: { maxRetries: 1 },
    });
    // Bearer tokens are refused over plain http; a loopback peer (a test server) needs none.
    if (loopback) this.client.pipeline.removePolicy({ name: "bearerTokenAuthenticationPolicy" });
    const onRequest = options.onRequest;
    if (onRequest) {
      this.client.pipeline.addPolicy(
        {
          name: "huntRequestCounter",
          sendRequest: (request, next) => {
            onRequest();
            return next(request);
          },
        },
        { phase: "Retry" },
      );
    }
  }

  async run(query: string, timespan: { duration: string }, deadline?: number): Promise<HuntOutput> {
    let result: Awaited<ReturnType<LogsQueryClient["queryWorkspace"]>>;
    try {
      result = await this.client.queryWorkspace(this.options.workspaceId, query, timespan, {
        serverTimeoutInSeconds: this.options.serverTimeoutSeconds,
        includeQueryStatistics: true,
        // The run's lease expires with its budget: a hunt still waiting then must give up, not overlap the next.
        // The SDK (1.0.0) drops an abortSignal on the way to the request, so a per-attempt timeout stands in,
        // halved because one retry may follow.
        requestOptions:
          deadline === undefined ? undefined : { timeout: Math.max(1000, Math.floor((deadline - Date.now()) / 2)) },
      });
    } catch (error) {
      const e = error as { statusCode?: number; code?: string; message?: string };
      const status = e.statusCode ? `HTTP ${e.statusCode} ` : "";
      const code = e.code ? `${e.code}: ` : "";
      throw new HuntSourceError(
        this.description,
        `POST ${this.options.endpoint}/workspaces/${this.options.workspaceId}/query → ${status}${code}${e.message ?? String(error)}`,
        { cause: error },
      );
    }
    if (result.status === LogsQueryResultStatus.PartialFailure) {
      const { code, message } = result.partialError;
      throw new HuntSourceError(
        this.description,
        `the service returned a partial result (${code}: ${message}); the result may be truncated or incomplete`,
      );
    }
    const table = result.tables[0];
    if (!table) throw new HuntSourceError(this.description, "the response holds no table");
    if (table.rows.length >= SERVICE_ROW_LIMIT) throw truncated(this.description, table.rows.length);
    return { table: fromSdkTable(table), statistics: result.statistics };
  }
}

function truncated(source: string, rows: number): HuntSourceError {
  return new HuntSourceError(
    source,
    `the result has ${rows} rows, the service's limit of ${SERVICE_ROW_LIMIT}, so it is truncated; narrow the hunt (e.g. a shorter HUNT_LOOKBACK_DAYS)`,
  );
}

/** The SDK turns datetimes into Date and parses dynamic values; the parser takes both, so only Dates change. */
function fromSdkTable(table: LogsTable): RawTable {
  return {
    columns: table.columnDescriptors.map((c) => ({ name: c.name ?? "", type: c.type })),
    // An unreadable datetime becomes an Invalid Date in the SDK; hand the parser text it will name in its error.
    rows: table.rows.map((row) => row.map((value) => (value instanceof Date ? isoOrText(value) : value))),
  };
}

const isoOrText = (date: Date): string => (Number.isNaN(date.getTime()) ? String(date) : date.toISOString());

/**
 * A saved hunt result: the Log Analytics REST body ({"tables":[{columns, rows}]}), or a JSON array of row
 * objects as a portal export gives (column names from the first row's keys, types left to the parser).
 */
export class ReplaySource implements HuntSource {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `replay file ${path}`;
  }

  async run(): Promise<HuntOutput> {
    let body: unknown;
    try {
      body = JSON.parse(await readFile(this.path, "utf8"));
    } catch (error) {
      throw new HuntSourceError(this.description, `could not read it as JSON (${(error as Error).message})`, {
        cause: error,
      });
    }
    const table = replayTable(body, this.description);
    // A saved result is what the service returned: one at its row limit was cut off there, as a live one is.
    if (table.rows.length >= SERVICE_ROW_LIMIT) throw truncated(this.description, table.rows.length);
    return { table };
  }
}

export function replayTable(body: unknown, description: string): RawTable {
  if (Array.isArray(body)) {
    const first = body[0];
    if (body.length > 0 && (typeof first !== "object" || first === null || Array.isArray(first))) {
      throw new HuntSourceError(description, "a JSON array replay must hold row objects");
    }
    const names = body.length > 0 ? Object.keys(first as object) : [];
    const rows = body.map((row, index) => {
      if (typeof row !== "object" || row === null || Array.isArray(row)) {
        throw new HuntSourceError(description, `row ${index + 1} is not an object`);
      }
      const record = row as Record<string, unknown>;
      const keys = Object.keys(record);
      const unexpected = keys.find((k) => !names.includes(k));
      if (unexpected !== undefined || keys.length !== names.length) {
        throw new HuntSourceError(
          description,
          `row ${index + 1} has other columns than row 1 (${unexpected ?? "some are missing"})`,
        );
      }
      return names.map((name) => record[name]);
    });
    return { columns: names.map((name) => ({ name })), rows };
  }
  const tables = (body as { tables?: unknown })?.tables;
  if (!Array.isArray(tables) || tables.length === 0) {
    throw new HuntSourceError(description, 'expected {"tables":[{"columns":[...],"rows":[...]}]} or an array of rows');
  }
  const table = tables[0] as { columns?: unknown; rows?: unknown };
  if (!Array.isArray(table.columns) || !Array.isArray(table.rows)) {
    throw new HuntSourceError(description, "the first table needs a columns array and a rows array");
  }
  const columns = table.columns.map((c: unknown, index: number) => {
    const column = c as { name?: unknown; type?: unknown };
    if (typeof column?.name !== "string") throw new HuntSourceError(description, `column ${index + 1} has no name`);
    return { name: column.name, type: typeof column.type === "string" ? column.type : undefined };
  });
  return { columns, rows: table.rows as unknown[][] };
}
