// oO's browser client: the HTTP API in a few functions, and an outbox so that nothing a person
// does offline is lost or sent twice. No framework, no build step: an ES module served as is.
//
//   import { OoClient } from "/sdk/oo-client.js";
//   const oo = new OoClient();                       // same origin; local mode needs no token
//   const { decision_id, tip, retry_after } = await oo.recommend({ timezone: "Europe/Berlin" });
//   await oo.react(decision_id, "later", "busy");    // queued, then delivered once
//
// Reactions and signals go through the outbox (kept in localStorage): each is delivered once and
// dropped only when the server has it. A feedback the server already holds answers 409
// `already_reacted`, and an event it already holds comes back in `already_known`: both count as
// delivered, so a retry after a lost answer never applies anything twice.

const OUTBOX_KEY = "oo.outbox";

export class OoError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code || null;
  }
}

export class OoClient {
  constructor({ base = "", token = null, storage = globalThis.localStorage } = {}) {
    this.base = base;
    this.token = token;
    this.storage = storage;
    this.flushing = null;
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    if (!response.ok) throw new OoError(response.status, parsed);
    return parsed;
  }

  recommend(context = {}) {
    return this.request("POST", "/v1/recommend", context);
  }

  settings() {
    return this.request("GET", "/v1/me/settings");
  }

  exportData() {
    return this.request("GET", "/v1/me/export");
  }

  deleteAccount() {
    return this.request("DELETE", "/v1/me");
  }

  // ---- the outbox ------------------------------------------------------------------------

  /** Queue a reaction to a decision, then try to deliver the queue. */
  react(decisionId, reaction, reason = null) {
    const body = { decision_id: decisionId, reaction };
    if (reason) body.reason = reason;
    return this.enqueue({ kind: "feedback", body });
  }

  /** Queue a signal (`type`, `payload`) with a fresh event id, then try to deliver the queue. */
  signal(type, payload) {
    const event = { id: crypto.randomUUID(), type, occurred_at: new Date().toISOString(), payload };
    return this.enqueue({ kind: "events", body: { events: [event] } });
  }

  pending() {
    try {
      return JSON.parse(this.storage.getItem(OUTBOX_KEY) || "[]");
    } catch {
      return [];
    }
  }

  async enqueue(item) {
    this.save([...this.pending(), { ...item, queued_at: Date.now() }]);
    return this.flush();
  }

  save(items) {
    this.storage.setItem(OUTBOX_KEY, JSON.stringify(items));
  }

  /** Deliver queued items in order; stops at the first that cannot reach the server now.
   *  Resolves to the number still waiting. One flush runs at a time. */
  flush() {
    if (!this.flushing) {
      this.flushing = this.deliver().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  async deliver() {
    for (;;) {
      const [item] = this.pending();
      if (!item) return 0;
      try {
        await this.request("POST", item.kind === "feedback" ? "/v1/feedback" : "/v1/events", item.body);
      } catch (error) {
        const retryable = !(error instanceof OoError) || error.status >= 500 || error.status === 429;
        if (retryable) return this.pending().length;
        // Already delivered (409) or refused for good (another 4xx): either way never resend it.
        if (error.status !== 409) console.warn("oO dropped a queued item the server refuses", error);
      }
      this.save(this.pending().slice(1));
    }
  }
}
