import type { Finding } from "../hunt/finding.js";
import { displayName, entraUrl, evidenceLines, signalTitle } from "./evidence.js";

/** Teams refuses larger messages; this counts the whole JSON body as sent, in UTF-8 bytes. */
export const TEAMS_MAX_BYTES = 28 * 1024;

export interface CardItem {
  finding: Finding;
  /** Link to the Sentinel incident, where one was created for this finding. */
  incidentUrl?: string;
  /** Where to open the identity; the public Entra admin center by default. */
  identityUrl?: string;
}

export interface TeamsMessage {
  /** The exact JSON body POSTed to the Workflows webhook. */
  body: Record<string, unknown>;
  servicePrincipalIds: string[];
  index: number;
  total: number;
}

type Element = Record<string, unknown>;

/**
 * One digest per run: a header with counts per signal, then one block per finding, split into as few
 * messages as keep each under the size limit. Every string from the logs goes into a TextRun, which Teams
 * renders as plain text: no markdown link, emphasis or mention can come from data.
 */
export function buildTeamsMessages(
  items: readonly CardItem[],
  runDate: Date,
  maxBytes = TEAMS_MAX_BYTES,
): TeamsMessage[] {
  if (items.length === 0) return [];
  const counts = countBySignal(items.map((i) => i.finding));
  const blocks = items.map((item) => ({ id: item.finding.servicePrincipalId, element: findingBlock(item) }));

  // Pack with the widest header the split could need (never more messages than findings), so renumbering
  // never overflows.
  const groups: (typeof blocks)[] = [];
  let group: typeof blocks = [];
  for (const block of blocks) {
    const candidate = [...group, block];
    if (
      group.length > 0 &&
      size(message(counts, items.length, candidate, items.length, items.length, runDate)) > maxBytes
    ) {
      groups.push(group);
      group = [block];
    } else {
      group = candidate;
    }
  }
  groups.push(group);

  return groups.map((g, i) => {
    const body = message(counts, items.length, g, i + 1, groups.length, runDate);
    if (size(body) > maxBytes) {
      throw new Error(
        `BUG: the Teams card for ${g[0]?.id} alone is ${size(body)} bytes, over ${maxBytes}; bound its fields further`,
      );
    }
    return { body, servicePrincipalIds: g.map((b) => b.id), index: i + 1, total: groups.length };
  });
}

function message(
  counts: Map<string, number>,
  findingCount: number,
  blocks: readonly { element: Element }[],
  index: number,
  total: number,
  runDate: Date,
): Record<string, unknown> {
  const part = total > 1 ? ` (${index} of ${total})` : "";
  const body: Element[] = [
    {
      type: "TextBlock",
      text: `Stale managed identities: ${findingCount} new risky finding${findingCount === 1 ? "" : "s"}${part}`,
      weight: "Bolder",
      size: "Medium",
      wrap: true,
    },
    {
      type: "RichTextBlock",
      inlines: [...counts].map(([signal, n], i) => textRun(`${i > 0 ? " · " : ""}${signalTitle(signal)}: ${n}`)),
    },
    {
      type: "TextBlock",
      text: `Hunt run ${runDate.toISOString().slice(0, 16).replace("T", " ")} UTC`,
      isSubtle: true,
      spacing: "None",
      wrap: true,
    },
    ...blocks.map((b) => b.element),
  ];
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          type: "AdaptiveCard",
          version: "1.4",
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          msteams: { width: "Full" },
          body,
        },
      },
    ],
  };
}

function findingBlock(item: CardItem): Element {
  const { finding } = item;
  const actions: Element[] = [
    {
      type: "Action.OpenUrl",
      title: "Open in Entra admin center",
      url: item.identityUrl ?? entraUrl(finding.servicePrincipalId),
    },
  ];
  if (item.incidentUrl)
    actions.push({ type: "Action.OpenUrl", title: "Open Sentinel incident", url: item.incidentUrl });
  return {
    type: "Container",
    separator: true,
    spacing: "Medium",
    items: [
      { type: "RichTextBlock", inlines: [textRun(displayName(finding), { weight: "Bolder" })] },
      ...evidenceLines(finding).map((line) => ({
        type: "RichTextBlock",
        spacing: "None",
        inlines: [textRun(`${line.label}: `, { isSubtle: true }), textRun(line.value)],
      })),
      { type: "ActionSet", actions },
    ],
  };
}

function textRun(text: string, style: Record<string, unknown> = {}): Element {
  return { type: "TextRun", text, ...style };
}

function countBySignal(findings: readonly Finding[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(f.riskSignal, (counts.get(f.riskSignal) ?? 0) + 1);
  return counts;
}

const size = (body: unknown): number => Buffer.byteLength(JSON.stringify(body), "utf8");
