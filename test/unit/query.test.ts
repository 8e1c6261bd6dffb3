import { describe, expect, it } from "vitest";
import type { HuntParameters } from "../../src/config.js";
import { huntTimespan, loadHuntTemplate, renderHunt } from "../../src/hunt/query.js";

const BEGIN = "// @parameters-begin";
const END = "// @parameters-end";
const template = loadHuntTemplate();
const defaults: HuntParameters = { lookbackDays: 180, staleThresholdDays: 90, allowlistedIpRanges: [] };

/** The text of a rendered query between the parameter markers. */
function parameterBlock(query: string): string {
  return query.slice(query.indexOf(BEGIN) + BEGIN.length, query.indexOf(END));
}

describe("renderHunt literals", () => {
  const cases: { case: string; params: HuntParameters; lines: string[] }[] = [
    {
      case: "the defaults",
      params: defaults,
      lines: [
        "let LookbackDays = 180d;",
        "let StaleThreshold = 90d;",
        "let AllowlistedIPRanges = dynamic([]);",
        "let DirectoryIdentityIds = dynamic([]);",
      ],
    },
    {
      case: "a longer lookback and two allow-listed ranges",
      params: { lookbackDays: 200, staleThresholdDays: 30, allowlistedIpRanges: ["10.0.0.0/8", "192.168.1.0/24"] },
      lines: [
        "let LookbackDays = 200d;",
        "let StaleThreshold = 30d;",
        'let AllowlistedIPRanges = dynamic(["10.0.0.0/8","192.168.1.0/24"]);',
        "let DirectoryIdentityIds = dynamic([]);",
      ],
    },
    {
      case: "the smallest window and the whole address space",
      params: { lookbackDays: 2, staleThresholdDays: 1, allowlistedIpRanges: ["0.0.0.0/0"] },
      lines: [
        "let LookbackDays = 2d;",
        "let StaleThreshold = 1d;",
        'let AllowlistedIPRanges = dynamic(["0.0.0.0/0"]);',
        "let DirectoryIdentityIds = dynamic([]);",
      ],
    },
  ];

  it.each(cases)("emits exactly the four parameter lines for $case", ({ params, lines }) => {
    expect(parameterBlock(renderHunt(template, params))).toBe(`\n${lines.join("\n")}\n`);
  });

  it("passes the directory's object ids lowercased, in the order given", () => {
    const ids = ["0A1B2C3D-0000-4000-8000-000000000001", "0a1b2c3d-0000-4000-8000-000000000002"];
    expect(parameterBlock(renderHunt(template, defaults, ids))).toContain(
      'let DirectoryIdentityIds = dynamic(["0a1b2c3d-0000-4000-8000-000000000001","0a1b2c3d-0000-4000-8000-000000000002"]);',
    );
  });

  it.each([
    {
      case: "an id that closes the literal and appends a query",
      id: '00000000-0000-4000-8000-000000000001"]); AuditLogs //',
    },
    { case: "an id with a new line", id: "00000000-0000-4000-8000-000000000001\n| take 1" },
    { case: "a display name instead of an id", id: "mi-payments" },
  ])("rejects $case with an error instead of a query", ({ id }) => {
    expect(() => renderHunt(template, defaults, [id])).toThrow(
      /^Hunt parameters: directory object id .* is not a GUID$/,
    );
  });

  it.each(cases)("leaves the template byte for byte unchanged outside the parameter block for $case", ({ params }) => {
    const query = renderHunt(template, params);
    const head = template.slice(0, template.indexOf(BEGIN) + BEGIN.length);
    const tail = template.slice(template.indexOf(END));
    expect(query.startsWith(head)).toBe(true);
    expect(query.endsWith(tail)).toBe(true);
    expect(query.length).toBe(head.length + parameterBlock(query).length + tail.length);
  });

  it("reproduces the shipped file exactly from the defaults the file itself declares", () => {
    expect(renderHunt(template, defaults)).toBe(template);
  });

  it("renders a small template's surroundings verbatim, whitespace and all", () => {
    const small = `// head\r\n  ${BEGIN}\nlet LookbackDays = 1d;\nlet StaleThreshold = 1d;\nlet AllowlistedIPRanges = dynamic([]);\nlet DirectoryIdentityIds = dynamic([]);\n${END}\n\tT | take 1 \n`;
    expect(renderHunt(small, defaults)).toBe(
      `// head\r\n  ${BEGIN}\nlet LookbackDays = 180d;\nlet StaleThreshold = 90d;\nlet AllowlistedIPRanges = dynamic([]);\nlet DirectoryIdentityIds = dynamic([]);\n${END}\n\tT | take 1 \n`,
    );
  });
});

describe("renderHunt hostile values", () => {
  const cases: { case: string; params: HuntParameters; says: RegExp }[] = [
    {
      case: "an allow-listed range that closes the literal and appends a query",
      params: { ...defaults, allowlistedIpRanges: ["10.0.0.0/8", '10.0.0.0/8"]); AuditLogs | take 1 //'] },
      says: /is not an IPv4 CIDR range/,
    },
    {
      case: "an allow-listed range followed by a new line and a pipe",
      params: { ...defaults, allowlistedIpRanges: ["10.0.0.0/8\n| take 1"] },
      says: /is not an IPv4 CIDR range/,
    },
    {
      case: "an IPv6 allow-listed range",
      params: { ...defaults, allowlistedIpRanges: ["2001:db8::/32"] },
      says: /is not an IPv4 CIDR range/,
    },
    { case: "a fractional lookback of 1.5", params: { ...defaults, lookbackDays: 1.5 }, says: /lookbackDays/ },
    { case: "a negative lookback of -1", params: { ...defaults, lookbackDays: -1 }, says: /lookbackDays/ },
    { case: "a lookback of NaN", params: { ...defaults, lookbackDays: Number.NaN }, says: /lookbackDays/ },
    { case: "a lookback of zero", params: { ...defaults, lookbackDays: 0 }, says: /lookbackDays/ },
    {
      case: "an infinite lookback",
      params: { ...defaults, lookbackDays: Number.POSITIVE_INFINITY },
      says: /lookbackDays/,
    },
    {
      case: "a lookback that is really text",
      params: { ...defaults, lookbackDays: "180d; AuditLogs | take 1 //" as unknown as number },
      says: /lookbackDays/,
    },
    {
      case: "a fractional stale threshold",
      params: { ...defaults, staleThresholdDays: 2.5 },
      says: /staleThresholdDays/,
    },
    {
      case: "a negative stale threshold",
      params: { ...defaults, staleThresholdDays: -90 },
      says: /staleThresholdDays/,
    },
  ];

  it.each(cases)("rejects $case with an error instead of a query", ({ params, says }) => {
    let query: string | undefined;
    let caught: unknown;
    try {
      query = renderHunt(template, params);
    } catch (error) {
      caught = error;
    }
    expect(query).toBeUndefined();
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toMatch(/^Hunt parameters: /);
    expect((caught as Error).message).toMatch(says);
  });
});

describe("renderHunt template checks", () => {
  const block = [
    "let LookbackDays = 180d;",
    "let StaleThreshold = 90d;",
    "let AllowlistedIPRanges = dynamic([]);",
    "let DirectoryIdentityIds = dynamic([]);",
  ].join("\n");
  const cases: { case: string; template: string; says: RegExp }[] = [
    {
      case: "a template without the parameter block",
      template: `${block}\nT | take 1\n`,
      says: /missing or out of order/,
    },
    {
      case: "a template with only the begin marker",
      template: `${BEGIN}\n${block}\nT | take 1\n`,
      says: /missing or out of order/,
    },
    {
      case: "a template with only the end marker",
      template: `${block}\n${END}\nT | take 1\n`,
      says: /missing or out of order/,
    },
    {
      case: "a template with the markers swapped",
      template: `${END}\n${block}\n${BEGIN}\nT | take 1\n`,
      says: /missing or out of order/,
    },
    {
      case: "a template with an extra parameter",
      template: `${BEGIN}\n${block}\nlet Extra = 1;\n${END}\nT\n`,
      says: /declares LookbackDays, StaleThreshold, AllowlistedIPRanges, DirectoryIdentityIds, Extra/,
    },
    {
      case: "a template with a missing parameter",
      template: `${BEGIN}\nlet LookbackDays = 180d;\nlet StaleThreshold = 90d;\n${END}\nT\n`,
      says: /declares LookbackDays, StaleThreshold$/,
    },
    {
      case: "a template with a renamed parameter",
      template: `${BEGIN}\nlet LookbackDays = 180d;\nlet StaleThreshold = 90d;\nlet AllowList = dynamic([]);\n${END}\nT\n`,
      says: /must declare exactly LookbackDays, StaleThreshold, AllowlistedIPRanges/,
    },
    {
      case: "a template with a parameter declared twice",
      template: `${BEGIN}\nlet LookbackDays = 180d;\nlet LookbackDays = 180d;\nlet StaleThreshold = 90d;\n${END}\nT\n`,
      says: /must declare exactly/,
    },
    {
      case: "a template with an empty parameter block",
      template: `${BEGIN}\n${END}\nT\n`,
      says: /it declares nothing/,
    },
    {
      case: "the shipped template with its parameter block removed",
      template: template.replace(BEGIN, "// parameters"),
      says: /missing or out of order/,
    },
  ];

  it.each(cases)("rejects $case", ({ template: text, says }) => {
    expect(() => renderHunt(text, defaults)).toThrow(says);
  });
});

describe("huntTimespan", () => {
  it.each([
    { lookbackDays: 1, duration: "P1D" },
    { lookbackDays: 180, duration: "P180D" },
    { lookbackDays: 200, duration: "P200D" },
    { lookbackDays: 730, duration: "P730D" },
  ])("gives $duration, the ISO 8601 duration of a lookback of $lookbackDays days", ({ lookbackDays, duration }) => {
    expect(huntTimespan({ ...defaults, lookbackDays })).toEqual({ duration });
  });

  it.each([
    { case: "fractional", lookbackDays: 1.5 },
    { case: "negative", lookbackDays: -1 },
    { case: "NaN", lookbackDays: Number.NaN },
    { case: "zero", lookbackDays: 0 },
  ])("rejects a $case lookback", ({ lookbackDays }) => {
    expect(() => huntTimespan({ ...defaults, lookbackDays })).toThrow(/lookbackDays must be a positive whole number/);
  });
});
