import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

export interface KqlColumn {
  name: string;
  type: string;
}

export interface KqlAnalysis {
  errors: { code: string; message: string; start: number; length: number }[];
  resultColumns: KqlColumn[];
}

export interface KqlTable {
  table: string;
  columns: KqlColumn[];
}

// The package's own .d.ts declares global namespaces that drag in DOM types,
// so only the few members used here are described.
interface BridgeList<T> {
  Count: number;
  getItem(index: number): T;
}
interface TypeSymbol {
  Name: string;
  Kind: number;
}
interface ColumnSymbol {
  Name: string;
  Type: TypeSymbol;
}
interface TableSymbol extends TypeSymbol {
  Columns: BridgeList<ColumnSymbol>;
}
interface DatabaseSymbol {
  Name: string;
}
interface GlobalState {
  WithDatabase(db: DatabaseSymbol): GlobalState;
}
interface Diagnostic {
  Code: string;
  Message: string;
  Severity: string;
  Start: number;
  Length: number;
}
interface KustoCode {
  ResultType: TypeSymbol | null;
  GetDiagnostics(): BridgeList<Diagnostic>;
}
interface KustoLanguage {
  KustoCode: { ParseAndAnalyze(text: string, globals: GlobalState): KustoCode };
  GlobalState: { Default: GlobalState };
  DiagnosticSeverity: { Error: string };
  Symbols: {
    ScalarTypes: { GetSymbol(name: string): TypeSymbol | null };
    SymbolKind: { Table: number };
    // Bridge.NET exposes C# constructor overloads as $ctorN; these are the
    // (name, type, ...) column, (name, ColumnSymbol[]) table and
    // (name, Symbol[]) database overloads.
    ColumnSymbol: new (
      name: string,
      type: TypeSymbol,
      description: null,
      originalColumns: null,
      source: null,
      examples: null,
    ) => ColumnSymbol;
    TableSymbol: {
      $ctor4: new (name: string, columns: ColumnSymbol[]) => TableSymbol;
    };
    DatabaseSymbol: {
      ctor: new (name: string, members: TableSymbol[]) => DatabaseSymbol;
    };
  };
}

// The package is a Bridge.NET script, not a module: bridge.js installs the
// .NET runtime as a global, then the main file registers `Kusto` on
// globalThis and exports nothing.
const require = createRequire(import.meta.url);
require("@kusto/language-service-next/bridge.js");
require("@kusto/language-service-next");
const Kusto = (globalThis as unknown as { Kusto: { Language: KustoLanguage } }).Kusto.Language;

const SHIPPED_TABLES = ["AADManagedIdentitySignInLogs", "AuditLogs", "AzureActivity"];

export function loadShippedSchemas(): KqlTable[] {
  return SHIPPED_TABLES.map((table) => {
    const url = new URL(`../../src/hunt/schema/${table}.json`, import.meta.url);
    const schema = JSON.parse(readFileSync(url, "utf8")) as KqlTable;
    return { table: schema.table, columns: schema.columns };
  });
}

function toArray<T>(list: BridgeList<T>): T[] {
  return Array.from({ length: list.Count }, (_, i) => list.getItem(i));
}

function tableSymbol({ table, columns }: KqlTable): TableSymbol {
  const { ColumnSymbol, ScalarTypes, TableSymbol } = Kusto.Symbols;
  const symbols = columns.map((column) => {
    const type = ScalarTypes.GetSymbol(column.type);
    // Without this check an unknown type name silently becomes a null type.
    if (type === null) {
      throw new Error(`${table}.${column.name}: unknown Kusto type '${column.type}'`);
    }
    return new ColumnSymbol(column.name, type, null, null, null, null);
  });
  return new TableSymbol.$ctor4(table, symbols);
}

export function analyzeKql(query: string, tables: KqlTable[]): KqlAnalysis {
  const { DatabaseSymbol, SymbolKind } = Kusto.Symbols;
  const db = new DatabaseSymbol.ctor("db", tables.map(tableSymbol));
  const globals = Kusto.GlobalState.Default.WithDatabase(db);
  const code = Kusto.KustoCode.ParseAndAnalyze(query, globals);

  const errors = toArray(code.GetDiagnostics())
    .filter((d) => d.Severity === Kusto.DiagnosticSeverity.Error)
    .map((d) => ({
      code: d.Code,
      message: d.Message,
      start: d.Start,
      length: d.Length,
    }));

  const result = code.ResultType;
  // Dynamic arrays and bags are their own symbol kinds but are all named "dynamic".
  const resultColumns =
    result !== null && result.Kind === SymbolKind.Table
      ? toArray((result as TableSymbol).Columns).map((c) => ({
          name: c.Name,
          type: c.Type.Name,
        }))
      : [];

  return { errors, resultColumns };
}
