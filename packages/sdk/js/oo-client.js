// oO's browser client: the HTTP API in a few functions, and an outbox so that nothing a person
// does offline is lost or sent twice. No framework, no build step: an ES module served as is.
//
//   import { OoClient } from "/sdk/oo-client.js";
//   const oo = new OoClient();                       // same origin; local mode needs no token
//   const { decision_id, tip, retry_after } = await oo.recommend({ timezone: "Europe/Berlin" });
//   await oo.react(decision_id, "later", "busy");    // queued, then delivered once
//
// Reactions and signals go through the outbox (kept in localStorage), delivered in order. A feedback
// the server already holds answers 409 `already_reacted`, and an event it already holds comes back in
// `already_known`: both count as delivered, so a retry after a lost answer never applies anything
// twice. No answer, a 5xx or a 429 is tried again later (after `Retry-After`, or a random wait in a
// doubling window); after MAX_ATTEMPTS tries the item is set aside, kept for the person to retry, and
// the rest go on. Another 4xx will never be accepted: the item is dropped and noted in `dropped()`.
// Every change to the outbox is told by an "outbox" event on the client.

const OUTBOX_KEY = "oo.outbox";
const DROPPED_KEY = "oo.outbox.dropped";
export const MAX_ATTEMPTS = 5;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 60_000;
const PATHS = { feedback: "/v1/feedback", events: "/v1/events" };

export class OoError extends Error {
  constructor(status, body, retryAfterMs = null) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code || null;
    this.items = body?.error?.items || []; // which field of the request is wrong, when the server says
    this.retryAfterMs = retryAfterMs;
  }
}

/** `Retry-After` in milliseconds from now; it may be seconds or an HTTP date. */
function retryAfterMs(response) {
  const value = response.headers.get("Retry-After");
  if (!value) return null;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isNaN(ms) ? null : Math.max(0, ms);
}

/** What an answer means for a queued item: "delivered", "refused" (for good) or "retry". */
function verdict(error) {
  if (!error || error.code === "already_reacted") return "delivered";
  if (!(error instanceof OoError)) return "retry"; // no answer: the network or the server is away
  // A lost race on a uniqueness constraint rolled the request back whole; the server asks for a retry.
  if (error.status >= 500 || error.status === 429 || error.code === "concurrent_change") return "retry";
  // Signed out (a server's session ended): kept until the person signs in again, not dropped.
  if (error.status === 401) return "retry";
  return "refused";
}

export class OoClient extends EventTarget {
  constructor({ base = "", token = null, storage = globalThis.localStorage } = {}) {
    super();
    this.base = base;
    this.token = token;
    this.storage = storage;
    this.flushing = null;
    this.wake = null;
  }

  async request(method, path, body) {
    // The CSRF header oO asks of a write signed in by cookie; harmless with a token or in local mode.
    const headers = { Accept: "application/json", "X-OO-CSRF": "1" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await response.text();
    if (!response.ok) throw new OoError(response.status, parseOrNull(text), retryAfterMs(response));
    return text ? JSON.parse(text) : null;
  }

  /** The login providers a server offers (`[{name, display_name, login_url}]`); a browser signs in by
   *  navigating to `login_url`. */
  loginProviders() {
    return this.request("GET", "/v1/auth/providers");
  }

  /** The browsers signed in as this person, `current` marking this one. */
  sessions() {
    return this.request("GET", "/v1/me/sessions");
  }

  endSession(sessionId) {
    return this.request("DELETE", `/v1/me/sessions/${encodeURIComponent(sessionId)}`);
  }

  signOut() {
    return this.request("POST", "/v1/auth/logout");
  }

  /** Every browser's session ends, and every API client's refresh family. */
  signOutEverywhere() {
    return this.request("DELETE", "/v1/me/sessions");
  }

  recommend(context = {}) {
    return this.request("POST", "/v1/recommend", context);
  }

  settings() {
    return this.request("GET", "/v1/me/settings");
  }

  /** Where each purpose stands, with the text to show and its version. Answers go through the outbox as
   *  `profile.consent_set.v1` signals, so a withdrawal made offline is kept and sent once. */
  consents() {
    return this.request("GET", "/v1/me/consents");
  }

  /** Every provider this server offers, connected or not, with what oO last read of it. */
  integrations() {
    return this.request("GET", "/v1/me/integrations");
  }

  /** Where to send the person to connect `provider` (`{authorize_url, expires_in}`); the provider's
   *  consent must be granted first. Not queued: it only makes sense online, and at once. */
  authorizeIntegration(provider, { completeTasks = false } = {}) {
    return this.request("POST", `/v1/me/integrations/${encodeURIComponent(provider)}/authorization`, {
      complete_tasks: completeTasks,
    });
  }

  /** Connect a CalDAV server (`{url, username, password}`): the server reads it at once, and answers 422
   *  with the reason (`calendar_unauthorized`…) when it cannot. The password is sent once and never
   *  kept here. */
  connectCalDav(credentials) {
    return this.request("PUT", "/v1/me/integrations/caldav", credentials);
  }

  /** Connect a calendar by its secret subscription link (ICS), read at once as CalDAV is. */
  connectIcs(url) {
    return this.request("PUT", "/v1/me/integrations/ics", { url });
  }

  /** Where a browser goes to connect Google Calendar: a redirect to Google's consent screen (a
   *  navigation, not a call: it carries the browser's session, or the local user in local mode). */
  googleCalendarConnectUrl() {
    return `${this.base}/v1/integrations/google_calendar/connect`;
  }

  /** Read `provider` now: `{outcome, integration}`. */
  refreshIntegration(provider) {
    return this.request("POST", `/v1/me/integrations/${encodeURIComponent(provider)}/refresh`);
  }

  /** Disconnect `provider`: oO forgets what it derived from it and revokes its grant. */
  disconnectIntegration(provider) {
    return this.request("DELETE", `/v1/me/integrations/${encodeURIComponent(provider)}`);
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

  /** Every queued item, set aside or not, in order. */
  pending() {
    return this.read(OUTBOX_KEY);
  }

  /** The items not yet delivered that are no longer tried on their own: `retry()` tries them again. */
  setAside() {
    return this.pending().filter((item) => item.set_aside);
  }

  /** The items the server refused for good, with its answer: kept until `forgetDropped()`. */
  dropped() {
    return this.read(DROPPED_KEY);
  }

  /** How many items are still being tried. */
  waiting() {
    return this.pending().length - this.setAside().length;
  }

  async enqueue(item) {
    this.save([...this.pending(), { ...item, queued_at: Date.now(), attempts: 0 }]);
    return this.flush();
  }

  /** Try the set-aside items once more, in their places in the queue; one failure sets them aside again. */
  retry() {
    const again = { set_aside: false, attempts: MAX_ATTEMPTS - 1, retry_at: 0 };
    this.save(this.pending().map((item) => (item.set_aside ? { ...item, ...again } : item)));
    return this.flush();
  }

  forgetDropped() {
    this.storage.removeItem(DROPPED_KEY);
    this.dispatchEvent(new Event("outbox"));
  }

  read(key) {
    try {
      return JSON.parse(this.storage.getItem(key) || "[]");
    } catch {
      return [];
    }
  }

  save(items, key = OUTBOX_KEY) {
    this.storage.setItem(key, JSON.stringify(items));
    this.dispatchEvent(new Event("outbox"));
  }

  /** Deliver queued items in order, past the set-aside ones; stops at one that must wait, and wakes
   *  itself when its wait is over. Resolves to the number still being tried. One flush runs at a time. */
  flush() {
    if (!this.flushing) {
      this.flushing = this.deliver().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  async deliver() {
    clearTimeout(this.wake);
    for (;;) {
      // Only a flush removes items, and one runs at a time: the index stays the item's meanwhile.
      const queue = this.pending();
      const index = queue.findIndex((queued) => !queued.set_aside);
      if (index < 0) return 0;
      const item = queue[index];
      if (item.retry_at > Date.now()) {
        this.wake = setTimeout(() => this.flush(), item.retry_at - Date.now());
        return this.waiting();
      }
      let error = null;
      try {
        await this.request("POST", PATHS[item.kind], item.body);
      } catch (caught) {
        error = caught;
      }
      const outcome = verdict(error);
      // Offline, no item is at fault: nothing is counted, and coming back online flushes again.
      if (outcome === "retry" && !(error instanceof OoError) && globalThis.navigator?.onLine === false) {
        return this.waiting();
      }
      const items = this.pending();
      if (items[index]?.queued_at !== item.queued_at) return this.waiting(); // cleared meanwhile: the account is gone
      if (outcome === "retry") {
        const attempts = (item.attempts || 0) + 1;
        const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
        const wait = error?.retryAfterMs ?? Math.random() * ceiling; // full jitter
        items[index] = { ...item, attempts, retry_at: Date.now() + wait, set_aside: attempts >= MAX_ATTEMPTS };
      } else {
        items.splice(index, 1);
        if (outcome === "refused") {
          const note = { kind: item.kind, status: error.status, code: error.code, message: error.message };
          this.save([...this.dropped(), note], DROPPED_KEY);
        }
      }
      this.save(items);
    }
  }
}

function parseOrNull(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null; // a proxy's HTML page: the status alone tells what happened
  }
}
