import { performance } from "node:perf_hooks";
import type { Peer, PeerAnswer, PeerResponse, RecordedRequest } from "./httpPeer.js";
import { HANG, startPeer } from "./httpPeer.js";

export { HANG };

/** The service's limits, stated here rather than imported, so a wrong constant in src cannot agree with itself. */
export const TEAMS_MAX_BYTES = 28 * 1024;
export const TEAMS_REQUESTS_PER_SECOND = 4;
export const CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json";
export const CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";

/** Element types Adaptive Cards 1.4 knows for display; anything newer (Table, 1.5) or interactive is refused. */
const CARD_1_4_TYPES = new Set([
  "AdaptiveCard",
  "TextBlock",
  "RichTextBlock",
  "TextRun",
  "Image",
  "ImageSet",
  "Media",
  "Container",
  "ColumnSet",
  "Column",
  "FactSet",
  "ActionSet",
]);

/** A TextBlock or Fact showing this many consecutive characters of a hostile name shows it as markdown. */
const HOSTILE_WINDOW = 8;

export interface TeamsPeerOptions {
  /** The webhook's path and query; a request to any other answers 404. Unset: any path. */
  path?: string;
  /**
   * Attacker-chosen names: no TextBlock text and no Fact (the fields Teams renders as markdown) may show any
   * 8 consecutive characters of one, so a cleaned-up or cut copy is caught too. TextRuns render plain text.
   */
  hostileNames?: readonly string[];
}

export interface TeamsPeer extends Peer {
  /** The bodies answered 202 by the trigger itself, in order. */
  accepted: Record<string, unknown>[];
  /** Every refusal, with the reason; starts with the check's name (rate, size, method, path, payload). */
  violations: string[];
  /** When each request arrived (performance.now()), in order. */
  arrivals: number[];
  /** Answers instead of the trigger for a request that passed every check (n counts from 1); undefined: 202. */
  fault: ((request: RecordedRequest, n: number) => PeerAnswer | undefined) | undefined;
}

/**
 * A Teams Workflows trigger ("When a Teams webhook request is received") that checks what it receives: 429 with
 * Retry-After: 1 past 4 requests in any second, 413 past 28 KB, and 400 for anything but a POST of a JSON
 * message with one Adaptive Card 1.4 whose only actions are Action.OpenUrl. Otherwise 202.
 */
export async function startTeamsPeer(options: TeamsPeerOptions = {}): Promise<TeamsPeer> {
  const accepted: Record<string, unknown>[] = [];
  const violations: string[] = [];
  const arrivals: number[] = [];
  let teamsPeer: TeamsPeer | undefined;

  const refuse = (status: number, check: string, message: string, headers?: Record<string, string>) => {
    violations.push(`${check}: ${message}`);
    return { status, headers, body: { error: { code: check, message } } } satisfies PeerResponse;
  };

  const peer = await startPeer((request) => {
    const now = performance.now();
    // Every call counts against the rate, throttled ones included, as the service counts them.
    const inLastSecond = arrivals.filter((t) => now - t < 1000).length;
    arrivals.push(now);
    if (inLastSecond >= TEAMS_REQUESTS_PER_SECOND) {
      return refuse(429, "rate", `request ${arrivals.length} came after ${inLastSecond} others within 1 s`, {
        "retry-after": "1",
      });
    }
    if (options.path !== undefined && request.url !== options.path) return refuse(404, "path", "no such workflow");
    if (request.method !== "POST") return refuse(405, "method", `expected POST, got ${request.method}`);
    const bytes = Buffer.byteLength(request.body, "utf8");
    if (bytes > TEAMS_MAX_BYTES) return refuse(413, "size", `${bytes} bytes is over ${TEAMS_MAX_BYTES}`);
    const type = request.headers["content-type"]?.split(";")[0]?.trim();
    if (type !== "application/json") return refuse(400, "payload", `content-type ${type ?? "none"}`);
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return refuse(400, "payload", "the body is not JSON");
    }
    const problems = messageProblems(body, options.hostileNames ?? []);
    if (problems.length > 0) return refuse(400, "payload", problems.join("; "));
    const injected = teamsPeer?.fault?.(request, arrivals.length);
    if (injected) return injected;
    accepted.push(body as Record<string, unknown>);
    return { status: 202 };
  });

  teamsPeer = { ...peer, accepted, violations, arrivals, fault: undefined };
  return teamsPeer;
}

/** What is wrong with a Workflows message body; empty when it is the message Teams posts as a card. */
export function messageProblems(body: unknown, hostileNames: readonly string[] = []): string[] {
  const problems: string[] = [];
  if (!isObject(body)) return ["the body must be a JSON object"];
  if (body.type !== "message") problems.push(`type must be "message"`);
  const attachments = body.attachments;
  if (!Array.isArray(attachments) || attachments.length !== 1) return [...problems, "expected exactly one attachment"];
  const attachment = attachments[0];
  if (!isObject(attachment)) return [...problems, "the attachment must be an object"];
  if (attachment.contentType !== CARD_CONTENT_TYPE) problems.push(`contentType must be ${CARD_CONTENT_TYPE}`);
  if (!("contentUrl" in attachment) || attachment.contentUrl !== null) problems.push("contentUrl must be null");
  const card = attachment.content;
  if (!isObject(card)) return [...problems, "content must be an Adaptive Card object"];
  if (card.type !== "AdaptiveCard") problems.push(`content.type must be "AdaptiveCard"`);
  if (card.version !== "1.4") problems.push(`card version must be "1.4", got ${JSON.stringify(card.version)}`);
  if (card.$schema !== CARD_SCHEMA) problems.push(`$schema must be ${CARD_SCHEMA}`);
  if (!Array.isArray(card.body) || card.body.length === 0) problems.push("the card body must be a non-empty array");

  const pieces = hostileNames.flatMap((name) => windows(name));
  const markdown = (where: string, text: unknown) => {
    if (typeof text !== "string") return;
    const piece = pieces.find((p) => text.includes(p));
    if (piece !== undefined) problems.push(`${where} shows ${JSON.stringify(piece)} of a hostile name as markdown`);
  };
  const walk = (value: unknown, path: string) => {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, `${path}[${i}]`);
      return;
    }
    if (!isObject(value)) return;
    const type = value.type;
    if (typeof type === "string") {
      if (type.startsWith("Action.")) {
        if (type !== "Action.OpenUrl") problems.push(`${path} is ${type}: only Action.OpenUrl works in Workflows`);
        else if (typeof value.url !== "string" || !/^https:\/\/[^\s]+$/.test(value.url)) {
          problems.push(`${path} Action.OpenUrl needs an absolute https url`);
        }
      } else if (!CARD_1_4_TYPES.has(type)) {
        problems.push(`${path} is ${type}, not a display element of Adaptive Cards 1.4`);
      }
      if (type === "TextBlock") markdown(`${path}.text`, value.text);
      if (type === "FactSet" && Array.isArray(value.facts)) {
        value.facts.forEach((fact, i) => {
          if (!isObject(fact)) return;
          markdown(`${path}.facts[${i}].title`, fact.title);
          markdown(`${path}.facts[${i}].value`, fact.value);
        });
      }
    }
    for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`);
  };
  walk(card, "card");
  return problems;
}

/** Every run of HOSTILE_WINDOW characters of a name that is not all blank (the whole name if shorter). */
function windows(name: string): string[] {
  const chars = [...name];
  if (chars.length <= HOSTILE_WINDOW) return name.trim() === "" ? [] : [name];
  const pieces: string[] = [];
  for (let i = 0; i + HOSTILE_WINDOW <= chars.length; i++) {
    const piece = chars.slice(i, i + HOSTILE_WINDOW).join("");
    if (piece.trim() !== "") pieces.push(piece);
  }
  return pieces;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);
