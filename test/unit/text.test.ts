import { describe, expect, it } from "vitest";
import { cut, inert, plain, plainList } from "../../src/notify/text.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: the characters no output may contain
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("plain", () => {
  it.each([
    ["null becomes the empty string", null, ""],
    ["undefined becomes the empty string", undefined, ""],
    ["a number becomes its decimal text", 42, "42"],
    ["a boolean becomes its text", false, "false"],
    ["ordinary text is kept as it is", "mi-backup-prod", "mi-backup-prod"],
    ["newlines and tabs become single spaces", "a\r\n\tb\n\nc", "a b c"],
    ["runs of spaces collapse to one", "a     b", "a b"],
    ["leading and trailing whitespace is trimmed", "  \n a \t ", "a"],
    ["NUL, ESC and DEL are removed", "a\u0000b\u001b[31mc\u007fd", "a b [31mc d"],
    ["C1 control characters are removed", "a\u0085b\u009bc", "a b c"],
    ["a right-to-left override is removed", "mi-\u202egnp.exe", "mi- gnp.exe"],
    ["bidi isolates are removed", "a\u2066b\u2067c\u2068d\u2069e", "a b c d e"],
    ["zero-width characters and the BOM are removed", "\ufeffa\u200bb\u200dc", "a b c"],
    ["left-to-right and right-to-left marks are removed", "a\u200eb\u200fc", "a b c"],
    ["markdown is left alone (channels make it inert)", "**x** [y](z)", "**x** [y](z)"],
    ["a lone high surrogate becomes a replacement character", "a\ud800b", "a\ufffdb"],
    ["a lone low surrogate becomes a replacement character", "a\udc00b", "a\ufffdb"],
    ["a surrogate pair is kept", "a😀b", "a😀b"],
  ])("%s", (_title, value, expected) => {
    expect(plain(value, 100)).toBe(expected);
  });

  it.each([
    [10, "x".repeat(5), "x".repeat(5)],
    [10, "x".repeat(10), "x".repeat(10)],
    [10, "x".repeat(11), `${"x".repeat(9)}…`],
    [128, "y".repeat(5000), `${"y".repeat(127)}…`],
  ])("bounds the result to %i characters, marking a cut with an ellipsis", (max, value, expected) => {
    const result = plain(value, max);
    expect(result).toBe(expected);
    expect(result.length).toBeLessThanOrEqual(max);
  });

  it("bounds after cleaning, so removed characters do not count", () => {
    expect(plain(`${"\u202e".repeat(50)}abc`, 5)).toBe("abc");
  });

  it("leaves no control, bidi or lone surrogate character in any hostile input", () => {
    const hostile = `a\u0000\u0007\u001f\u007f\u0080\u009f\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\ud800\udfffz`;
    const result = plain(hostile, 200);
    expect(result).not.toMatch(INVISIBLE);
    expect(result).not.toMatch(LONE_SURROGATE);
    expect(result.startsWith("a")).toBe(true);
    expect(result.endsWith("z")).toBe(true);
  });
});

describe("cut", () => {
  it.each([
    ["keeps text shorter than the limit", "abc", 5, "abc"],
    ["keeps text exactly at the limit", "abcde", 5, "abcde"],
    ["cuts longer text to the limit, the ellipsis included", "abcdef", 5, "abcd…"],
    ["keeps a whole surrogate pair before the ellipsis", "ab😀cd", 5, "ab😀…"],
    ["drops a surrogate pair that the cut would split", "ab😀cd", 4, "ab…"],
    ["cuts a string of emoji between pairs", "😀😀😀😀", 6, "😀😀…"],
    ["drops the pair rather than split it at an odd limit", "😀😀😀😀", 5, "😀😀…"],
    ["a limit of one leaves only the ellipsis", "abc", 1, "…"],
  ])("%s", (_title, text, max, expected) => {
    expect(cut(text, max)).toBe(expected);
  });

  it.each([
    ["emoji only", "😀".repeat(40)],
    ["emoji between ASCII", "a😀b🎉c🔥d".repeat(10)],
    ["astral CJK mixed with BMP CJK", "𠀀一𠀁二".repeat(10)],
  ])("never splits a surrogate pair at any limit (%s)", (_title, text) => {
    for (let max = 1; max <= text.length + 1; max++) {
      const result = cut(text, max);
      expect(result.length).toBeLessThanOrEqual(max);
      expect(result).not.toMatch(LONE_SURROGATE);
      if (text.length > max) expect(result.endsWith("…")).toBe(true);
      else expect(result).toBe(text);
    }
  });
});

describe("plainList", () => {
  it.each([
    ["an empty list gives the empty string", [], 5, 20, ""],
    ["values are joined with a comma", ["a", "b", "c"], 5, 20, "a, b, c"],
    ["a list at the item limit shows no remainder", ["a", "b"], 2, 20, "a, b"],
    ["values beyond the item limit are counted", ["a", "b", "c", "d", "e"], 2, 20, "a, b, +3 more"],
    ["each value is cut to its own limit", ["abcdefgh", "xy"], 5, 4, "abc…, xy"],
    ["each value is made plain", ["a\nb", "c\u202ed"], 5, 20, "a b, c d"],
    ["non-string values are shown as text", [1, null, true], 5, 20, "1, , true"],
  ])("%s", (_title, values, items, each, expected) => {
    expect(plainList(values, items, each)).toBe(expected);
  });

  it("stays bounded however long the list and its values", () => {
    const result = plainList(Array(10_000).fill("z".repeat(10_000)), 5, 80);
    expect(result.length).toBeLessThanOrEqual(5 * 80 + 5 * 2 + "+9995 more".length);
    expect(result.endsWith("+9995 more")).toBe(true);
  });
});

describe("inert", () => {
  it.each([
    ["<", "‹"],
    [">", "›"],
    ["[", "⟦"],
    ["]", "⟧"],
    ["*", "∗"],
    ["`", "ˋ"],
    ["\\", "⧵"],
    ["&", "＆"],
  ])("swaps %s for the look-alike %s", (character, lookalike) => {
    expect(inert(`a${character}b`, 20)).toBe(`a${lookalike}b`);
  });

  it.each([
    ["an HTML tag", "<img src=x onerror=alert(1)>"],
    ["a Teams mention", "<at>SOC Team</at>"],
    ["a markdown link", "[approve here](https://evil.example/login)"],
    ["a markdown image", "![x](https://evil.example/pixel.png)"],
    ["bold emphasis", "**URGENT**"],
    ["inline code", "`rm -rf /`"],
    ["an HTML entity", "&lt;script&gt;"],
    ["an escaped bracket", "\\[x\\](y)"],
  ])("leaves no syntax for %s", (_title, value) => {
    const result = inert(`mi-backup ${value}`, 200);
    expect(result).not.toMatch(/[<>[\]*`\\&]/);
    expect(result.startsWith("mi-backup ")).toBe(true);
  });

  it("keeps ordinary names unchanged", () => {
    expect(inert("mi-backup_prod (westeurope) #2", 100)).toBe("mi-backup_prod (westeurope) #2");
  });

  it("removes control and bidi characters as plain does", () => {
    expect(inert("a\u202eb\nc\u0000d", 20)).toBe("a b c d");
  });

  it.each([
    [10, "<".repeat(50)],
    [128, "[x](y)".repeat(1000)],
    [128, "a".repeat(5000)],
  ])("bounds the result to %i characters", (max, value) => {
    const result = inert(value, max);
    expect(result.length).toBeLessThanOrEqual(max);
    expect(result.endsWith("…")).toBe(true);
  });
});
