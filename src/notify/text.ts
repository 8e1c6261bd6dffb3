/**
 * Strings from the logs (display names above all) are chosen by whoever created the identity. These helpers
 * make them inert and bounded before any channel shows them.
 */

// Control characters and bidirectional overrides can hide or reorder what an analyst reads.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters being removed
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

// A lone surrogate is not text: JSON.stringify escapes it as six bytes, which breaks the channels' size bounds.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** One line of plain text, at most `max` characters (an ellipsis marks a cut). */
export function plain(value: unknown, max: number): string {
  const text = String(value ?? "")
    .replace(LONE_SURROGATE, "\ufffd")
    .replace(INVISIBLE, " ")
    .replace(/\s+/g, " ")
    // A URL in a display name must not become a link by any renderer's auto-linking: defang its scheme.
    .replace(/:\/\//g, "∶//")
    .trim();
  return cut(text, max);
}

export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never split a surrogate pair: half an emoji renders as a replacement box.
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** A list of log values as one plain line: at most `items` entries, each bounded. */
export function plainList(values: readonly unknown[], items: number, each: number): string {
  const shown = values.slice(0, items).map((v) => plain(v, each));
  if (values.length > items) shown.push(`+${values.length - items} more`);
  return shown.join(", ");
}

/**
 * For text shown by renderers we do not control (Sentinel's title and description): the characters that
 * open an HTML tag, a markdown link or image, emphasis or code are swapped for look-alikes, so the text
 * reads the same and can form no tag, link, mention or emphasis. Every data value sits after a label on
 * its line, so line-start syntax (headings, lists) cannot be formed either.
 */
export function inert(value: unknown, max: number): string {
  return cut(
    plain(value, max * 2).replace(/[<>[\]*`\\&~|]/g, (c) => LOOKALIKES[c] ?? " "),
    max,
  );
}

const LOOKALIKES: Record<string, string> = {
  "<": "‹",
  ">": "›",
  "[": "⟦",
  "]": "⟧",
  "*": "∗",
  "`": "ˋ",
  "\\": "⧵",
  "&": "＆",
  "~": "˜",
  "|": "¦",
};
