import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import type { RetryPolicy } from "../../src/notify/http.js";
import { HttpError } from "../../src/notify/http.js";
import { TeamsChannel } from "../../src/notify/teams.js";
import type { TeamsMessage } from "../../src/notify/teamsCard.js";
import { buildTeamsMessages } from "../../src/notify/teamsCard.js";
import { TeamsWebhook } from "../../src/notify/teamsWebhook.js";
import { bulkyFinding, context, finding, owed, RUN_DATE } from "../helpers/delivery.js";
import type { PeerAnswer, RecordedRequest } from "../helpers/httpPeer.js";
import type { TeamsPeer } from "../helpers/teamsPeer.js";
import { startTeamsPeer, TEAMS_MAX_BYTES } from "../helpers/teamsPeer.js";

const FAST: RetryPolicy = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 };
const SECRET = "SuperSecretSig";
const WEBHOOK_PATH = `/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sig=${SECRET}`;

const peers: TeamsPeer[] = [];
afterEach(async () => {
  const closing = peers.splice(0);
  await Promise.all(closing.map((p) => p.close()));
  // Whatever a test made the trigger answer, every message the product sent passed its checks.
  for (const peer of closing) expect(peer.violations).toEqual([]);
});

/**
 * A strict Teams Workflows trigger on WEBHOOK_PATH. `answer` answers instead of it for messages that pass its
 * checks; undefined lets it accept them with 202.
 */
async function teams(answer: (request: RecordedRequest, n: number) => PeerAnswer | undefined = () => undefined) {
  const peer = await startTeamsPeer({ path: WEBHOOK_PATH });
  peer.fault = answer;
  peers.push(peer);
  return { peer, arrivals: peer.arrivals, webhookUrl: `${peer.url}${WEBHOOK_PATH}` };
}

/** A real digest of one finding, as the channel builds it. */
const message = (): TeamsMessage => {
  const [built] = buildTeamsMessages([{ finding: finding() }], RUN_DATE);
  if (!built) throw new Error("no message for one finding");
  return built;
};

async function failure(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

/** No piece of the secret signature of 6 characters or more, and neither the URL nor its path and query. */
function expectNoWebhookUrl(text: string, webhookUrl: string) {
  expect(text).not.toContain(webhookUrl);
  expect(text).not.toContain(WEBHOOK_PATH);
  for (let i = 0; i + 6 <= SECRET.length; i++) expect(text).not.toContain(SECRET.slice(i, i + 6));
}

describe("TeamsWebhook", () => {
  it("posts the message body as JSON with content-type application/json and succeeds on 202", async () => {
    const { peer, webhookUrl } = await teams();
    const sent = message();
    await new TeamsWebhook(webhookUrl, FAST).post(sent, context());

    expect(peer.requests).toHaveLength(1);
    expect(peer.accepted).toEqual([sent.body]);
    const [request] = peer.requests;
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe(WEBHOOK_PATH);
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "")).toEqual(sent.body);
  });

  it("retries a 429 after its Retry-After of 1 s and then succeeds", async () => {
    const { peer, arrivals, webhookUrl } = await teams((_, n) =>
      n === 1
        ? { status: 429, headers: { "retry-after": "1" }, body: { error: { code: "TooManyRequests" } } }
        : undefined,
    );
    await new TeamsWebhook(webhookUrl, { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 5000 }).post(
      message(),
      context(),
    );

    expect(peer.requests).toHaveLength(2);
    expect(peer.accepted).toHaveLength(1);
    expect((arrivals[1] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(900);
  });

  it("retries a 503 with backoff and gives up after maxAttempts with an HttpError", async () => {
    const { peer, webhookUrl } = await teams(() => ({
      status: 503,
      body: { error: { code: "ServiceUnavailable", message: "try later" } },
    }));
    const error = await failure(new TeamsWebhook(webhookUrl, FAST).post(message(), context()));

    expect(peer.requests).toHaveLength(3);
    expect(error.status).toBe(503);
    expect(error.attempts).toBe(3);
    expect(error.message).toContain("after 3 attempts");
    expect(error.message).toContain("503 ServiceUnavailable: try later");
    expect(error.message).toContain("TEAMS_WEBHOOK_URL");
  });

  it.each([400, 401, 403, 404])("fails at once on a %i, after a single request", async (status) => {
    const { peer, webhookUrl } = await teams(() => ({
      status,
      body: { error: { code: "BadRequest", message: "card rejected" } },
    }));
    const error = await failure(new TeamsWebhook(webhookUrl, FAST).post(message(), context()));

    expect(peer.requests).toHaveLength(1);
    expect(error.status).toBe(status);
    expect(error.attempts).toBe(1);
    expect(error.message).toContain(`${status} BadRequest: card rejected`);
  });

  it("fails at once when the trigger refuses a message over 28 KB with 413", async () => {
    const { peer, webhookUrl } = await teams();
    const oversize = message();
    oversize.body = { ...oversize.body, padding: "x".repeat(TEAMS_MAX_BYTES) };
    const error = await failure(new TeamsWebhook(webhookUrl, FAST).post(oversize, context()));

    expect(peer.requests).toHaveLength(1);
    expect(error.status).toBe(413);
    expect(error.attempts).toBe(1);
    expect(peer.accepted).toEqual([]);
    // Sent on purpose: the peer's size check is what this test is about.
    expect(peer.violations).toEqual([expect.stringMatching(/^size: \d+ bytes is over 28672$/)]);
    peer.violations.length = 0;
  });

  it("stops retrying when the next retry would pass the deadline, and says so", async () => {
    const { peer, webhookUrl } = await teams(() => ({ status: 429, headers: { "retry-after": "30" } }));
    const started = performance.now();
    const error = await failure(
      new TeamsWebhook(webhookUrl, { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 60_000 }).post(
        message(),
        context(2000),
      ),
    );

    expect(performance.now() - started).toBeLessThan(1500);
    expect(peer.requests).toHaveLength(1);
    expect(error.message).toContain("after 1 attempts");
    expect(error.message).toContain("the next retry (in 30 s) would pass the run's time budget");
  });

  describe("keeps the webhook URL out of every error message", () => {
    // The worst case: a service that echoes the request line it received.
    const echo = (status: number) => (request: RecordedRequest) => ({
      status,
      body: { error: { code: "InvalidRequest", message: `${request.method} ${request.url} was rejected` } },
    });

    it.each([400, 503])("on a %i that echoes the URL", async (status) => {
      const { peer, webhookUrl } = await teams(echo(status));
      const error = await failure(new TeamsWebhook(webhookUrl, FAST).post(message(), context()));

      expect(peer.requests.length).toBeGreaterThan(0);
      expect(error.message).toContain("TEAMS_WEBHOOK_URL");
      expectNoWebhookUrl(error.message, webhookUrl);
    });

    it("on a 400 whose plain-text body is the whole URL", async () => {
      const { webhookUrl } = await teams(() => ({ status: 400, body: `bad trigger ${webhookUrl}` }));
      const error = await failure(new TeamsWebhook(webhookUrl, FAST).post(message(), context()));
      expectNoWebhookUrl(error.message, webhookUrl);
    });

    it("on a network failure to a closed port", async () => {
      const peer = await startTeamsPeer();
      const webhookUrl = `${peer.url}${WEBHOOK_PATH}`;
      await peer.close();
      const error = await failure(
        new TeamsWebhook(webhookUrl, { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 10 }).post(message(), context()),
      );

      expect(error.status).toBeUndefined();
      expect(error.message).toContain("network error");
      expect(error.message).toContain("after 2 attempts");
      expectNoWebhookUrl(error.message, webhookUrl);
    });

    // The service's text is cut to 300 characters: redaction must happen before the cut, or half a signature
    // that straddles it would survive.
    it("on a 400 whose long error text is cut in the middle of the echoed signature", async () => {
      const { webhookUrl } = await teams((request) => {
        const prefix = "InvalidRequest: ";
        const lead = "x".repeat(300 - prefix.length - request.url.length + SECRET.length / 2);
        return { status: 400, body: { error: { code: "InvalidRequest", message: `${lead}${request.url}` } } };
      });
      const error = await failure(new TeamsWebhook(webhookUrl, FAST).post(message(), context()));
      expectNoWebhookUrl(error.message, webhookUrl);
    });
  });
});

describe("TeamsChannel over the webhook", () => {
  it("sends no more than 4 requests per second: 9 messages span at least 2 s", async () => {
    // Enough bulky findings that the digest needs exactly 9 messages.
    let items = [bulkyFinding(1)];
    while (
      buildTeamsMessages(
        items.map((f) => ({ finding: f })),
        RUN_DATE,
      ).length < 9
    ) {
      items = [...items, bulkyFinding(items.length + 1)];
    }
    expect(
      buildTeamsMessages(
        items.map((f) => ({ finding: f })),
        RUN_DATE,
      ),
    ).toHaveLength(9);

    const { peer, arrivals, webhookUrl } = await teams();
    const ctx = context();
    const report = await new TeamsChannel(new TeamsWebhook(webhookUrl, FAST)).deliver(
      items.map((f) => owed(f)),
      ctx,
    );

    expect(report.failures).toEqual([]);
    expect(report.delivered).toHaveLength(items.length);
    expect(ctx.acknowledged).toHaveLength(9);
    expect(peer.requests).toHaveLength(9);
    // The trigger answers 429 to a fifth request within a second: none came.
    expect(peer.accepted).toHaveLength(9);
    // The limiter keeps a margin over 250 ms between starts, so arrivals honour the rate despite set-up jitter.
    expect((arrivals[8] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(2000);
    for (let i = 4; i < arrivals.length; i++) {
      // Five arrivals never fit in one second.
      expect((arrivals[i] as number) - (arrivals[i - 4] as number)).toBeGreaterThanOrEqual(1000);
    }
  });
});
