// The sheet's Connections: every provider GET /v1/me/integrations lists, with its status in words —
// connected and when it was last read, broken, stale and why, whether Done completes tasks there —
// and the controls a provider's connect form gives. Todoist's form is here, the calendars' in
// calendars.js (registered with `registerConnectForm`); a provider without one shows its status only.
// A provider the server does not offer is not in the list, and the page shows nothing for it.
import { timeOf } from "/time.js";

const $ = (id) => document.getElementById(id);
export const PROVIDER_NAMES = {
  todoist: "Todoist",
  google_calendar: "Google Calendar",
  caldav: "CalDAV calendar",
  ics: "Calendar link",
};
export const nameOf = (provider) => PROVIDER_NAMES[provider] ?? provider;
const CALENDARS = new Set(["caldav", "ics", "google_calendar"]);
// `sync_error` (oo_contracts.integrations) as the end of "<provider> …".
const SYNC_ERRORS = {
  unreachable: "could not be reached",
  timeout: "did not answer in time",
  rate_limited: "asked oO to slow down",
  unauthorized: "stopped accepting oO",
  provider_error: "had a problem on its side",
  refused: "refused what oO asked",
  unexpected: "answered in a way oO did not understand",
  // A calendar's own reasons (services/integrations/calendar: CalendarProblem's codes).
  link_refused: "no longer opens with its link",
  unavailable: "did not answer",
  too_large: "is too large for oO to read",
  invalid_url: "has an address oO cannot use",
  not_a_calendar: "no longer leads to a calendar",
  not_caldav: "no longer answers as a CalDAV server",
  unreadable: "needs connecting again",
  bad_answer: "answered in a way oO did not understand",
  google_unavailable: "could not answer now",
  forbidden: "does not let oO read this calendar",
};
// The callbacks' `result` (services/integrations/routes.py; GOOGLE_ERRORS in
// services/integrations/calendar/service.py) in the page's own words, never the URL's; `{name}` is the
// provider's.
const OUTCOMES = {
  connected: "{name} connected — reading your tasks",
  access_denied: "You did not allow oO in {name} — nothing changed",
  bad_code: "That link expired — try connecting again",
  state_unknown: "That link expired — try connecting again",
  app_credentials: "This server's {name} app is misconfigured",
  not_allowed: "oO may not use {name}: it is off in Permissions — try connecting again",
  unreachable: "{name} could not be reached — try again in a moment",
  provider_error: "{name} had a problem on its side — try again later",
  state_expired: "The sign-in took too long — try connecting again",
  wrong_person: "That sign-in was started by another account — try connecting again",
  google_misconfigured: "This server's Google app is misconfigured — ask whoever runs it",
  google_refused: "Google refused the sign-in — try connecting again",
  google_unavailable: "Google could not be reached — try again in a moment",
  scope_not_granted: "You did not tick the box that lets oO see when you are busy — try connecting again",
  consent_required: "oO may not read {name}: it is off in Permissions — try connecting again",
  unauthorized: "{name} refused oO's grant — try connecting again",
  forbidden: "{name} does not let oO read this calendar",
  rate_limited: "{name} asked oO to slow down — try again in a few minutes",
  bad_answer: "{name} answered in a way oO did not understand — try again later",
};
const CALENDAR_OUTCOMES = { connected: "{name} connected — reading when you are busy" };
// Connected with Done completing tasks there (Todoist's switch): that is what changed, not the reading.
const COMPLETING = "{name} connected — Done in oO completes tasks there";

/** provider → render(integration, context) → the elements of its connect form. The calendar forms
 *  (CalDAV URL and password, an ICS feed's address, Google's OAuth) register here. */
const connectForms = new Map();
export function registerConnectForm(provider, render) {
  connectForms.set(provider, render);
}

/** The words for a return from a provider's OAuth page (`?integration=…&result=…`), or null. Only the
 *  page's own words: a provider or a result it does not know is never echoed (anyone can write a link).
 *  `integration`: the provider's state as the server lists it now, when read. */
export function outcomeWords(provider, result, integration = null) {
  if (!Object.hasOwn(PROVIDER_NAMES, provider ?? "") || !result) return null;
  const completing = result === "connected" && integration?.status === "connected" && integration.completes_tasks;
  const own = completing ? COMPLETING : (CALENDARS.has(provider) ? CALENDAR_OUTCOMES : {})[result];
  const words = own ?? (Object.hasOwn(OUTCOMES, result) ? OUTCOMES[result] : "{name} could not be connected — try again");
  return words.replaceAll("{name}", nameOf(provider));
}

/** "read just now", "read 3 min ago", "read 2 h ago", "read 3 days ago". */
export function readAgo(moment, now = Date.now()) {
  const minutes = Math.floor((now - moment) / 60_000);
  if (minutes < 1) return "read just now";
  if (minutes < 60) return `read ${minutes} min ago`;
  if (minutes < 48 * 60) return `read ${Math.floor(minutes / 60)} h ago`;
  return `read ${Math.floor(minutes / 1440)} days ago`;
}

/** The status line: what a person needs to know of the connection, in one sentence. */
function statusWords(integration, zone) {
  const name = nameOf(integration.provider);
  if (integration.status === "broken") return `${name} stopped accepting oO — connect again`;
  if (integration.status !== "connected") return "Not connected";
  const read = integration.last_synced_at ? new Date(integration.last_synced_at) : null;
  if (integration.stale) {
    const why = SYNC_ERRORS[integration.sync_error] ?? SYNC_ERRORS.unexpected;
    const kept = read ? `showing what was read at ${timeOf(read, zone)}` : "nothing read yet";
    return `${name} ${why}; ${kept}`;
  }
  return read ? `Connected · ${readAgo(read)}` : "Connected · reading now";
}

export const element = (tag, props = {}) => Object.assign(document.createElement(tag), props);
export const button = (text, onClick, { label = null, ...props } = {}) => {
  const made = element("button", { type: "button", textContent: text, ...props });
  if (label) made.setAttribute("aria-label", label);
  made.addEventListener("click", onClick);
  return made;
};

/**
 * Render `integrations` into the sheet. `context`: {oo, zone, consent(purpose) → the consent's state
 * from GET /v1/me/consents, say(text), changed() after something that changes tips, reload()}.
 */
export function showConnections(integrations, context) {
  $("connections-section").hidden = integrations.length === 0;
  $("connections").replaceChildren(
    ...integrations.map((integration) => {
      const item = element("li", { className: "connection" });
      item.dataset.provider = integration.provider;
      item.dataset.status = integration.status;
      const head = element("span", { className: "consent-words" });
      const status = element("small", {
        className: "connection-status",
        id: `connection-${integration.provider}`,
        textContent: statusWords(integration, context.zone),
      });
      head.append(element("span", { textContent: nameOf(integration.provider) }), status);
      item.append(head);
      const form = connectForms.get(integration.provider);
      if (form) item.append(...form(integration, context));
      else if (integration.completes_tasks) {
        item.append(element("small", { className: "note", textContent: "Done in oO completes it there." }));
      }
      return item;
    }),
  );
}

/** Grant the provider's consent with the version of the words shown (as the Permissions switch does);
 *  true once the server holds it. */
export async function grantConsent(integration, context) {
  if (integration.consent_granted) return true;
  const name = nameOf(integration.provider);
  const consent = context.consent(integration.consent);
  if (!consent) {
    context.say(`${name} could not be connected right now.`);
    return false;
  }
  const answer = { purpose: consent.purpose, granted: true, version: consent.current_version, how: "page" };
  if ((await context.oo.signal("profile.consent_set.v1", answer)) > 0) {
    context.say(`Offline: connect ${name} when you're back online.`);
    return false;
  }
  integration.consent_granted = true; // the server holds it now: a second try does not answer again
  return true;
}

/** The consent's words, shown beside the control that grants it (its `aria-describedby`). */
export function consentWords(integration, context) {
  const id = `${integration.provider}-consent-words`;
  return element("small", { className: "note", id, textContent: context.consent(integration.consent)?.text ?? "" });
}

/** Grant the provider's consent, then go to the provider's authorize page. */
export async function connect(integration, context, completeTasks) {
  const name = nameOf(integration.provider);
  if (!(await grantConsent(integration, context))) return;
  try {
    const { authorize_url: url } = await context.oo.authorizeIntegration(integration.provider, { completeTasks });
    context.say(`Opening ${name}…`);
    location.assign(url);
  } catch (error) {
    context.say(`${name} could not be connected: ${error.message}`);
  }
}

async function refresh(integration, context) {
  const name = nameOf(integration.provider);
  try {
    const { outcome, integration: now } = await context.oo.refreshIntegration(integration.provider);
    context.say(outcome === "refreshed" ? `${name} read just now.` : statusWords(now, context.zone));
    await context.reload();
    context.changed();
  } catch (error) {
    context.say(`${name} could not be read: ${error.message}`);
  }
}

async function disconnect(integration, context) {
  const name = nameOf(integration.provider);
  try {
    await context.oo.disconnectIntegration(integration.provider);
    context.say(`${name} disconnected; oO forgot what it read there.`);
  } catch (error) {
    context.say(error.code === "not_connected" ? `${name} was not connected.` : `${name}: ${error.message}`);
  }
  await context.reload();
  context.changed();
}

/** A connection's Refresh now and Disconnect (asked once more, saying what oO `forgets`): the row of
 *  controls and the confirmation under it. */
export function connectedControls(integration, context, forgets) {
  const name = nameOf(integration.provider);
  const controls = element("div", { className: "row connection-controls" });
  const confirm = element("div", { className: "confirm", hidden: true });
  const keep = button("Keep it", () => {
    confirm.hidden = true;
    ask.focus();
  });
  confirm.append(
    element("p", { textContent: `Disconnect ${name}? oO forgets ${forgets}.` }),
    button("Yes, disconnect", () => disconnect(integration, context), { className: "danger" }),
    keep,
  );
  const ask = button(
    "Disconnect",
    () => {
      confirm.hidden = false;
      keep.focus();
    },
    { label: `Disconnect ${name}` },
  );
  controls.append(button("Refresh now", () => refresh(integration, context), { label: `Refresh ${name} now` }), ask);
  return [controls, confirm];
}

/** Todoist: Connect (with the consent's words beside it), or, connected, whether Done completes tasks
 *  there, Refresh now and Disconnect (asked once more). */
function todoistForm(integration, context) {
  const name = nameOf(integration.provider);
  if (integration.status !== "connected") {
    const controls = element("div", { className: "row connection-controls" });
    const words = consentWords(integration, context);
    const again = integration.status === "broken";
    const go = button(again ? "Connect again" : "Connect", () => connect(integration, context, false), {
      label: `${again ? "Connect again" : "Connect"} ${name}`,
    });
    go.setAttribute("aria-describedby", words.id);
    controls.append(go);
    return [words, controls];
  }
  const completing = element("span", { className: "connection-switch" });
  const label = element("span", { textContent: `Done in oO completes it in ${name}`, id: "todoist-completes" });
  const note = element("small", { className: "note", id: "todoist-asks-again", textContent: `Changing it reconnects: ${name} asks you again.` });
  const toggle = button("", () => connect(integration, context, !integration.completes_tasks), { className: "switch" });
  toggle.setAttribute("role", "switch");
  toggle.setAttribute("aria-checked", String(integration.completes_tasks));
  toggle.setAttribute("aria-labelledby", label.id);
  toggle.setAttribute("aria-describedby", note.id);
  const words = element("span", { className: "consent-words" });
  words.append(label, note);
  completing.append(words, toggle);
  return [completing, ...connectedControls(integration, context, "the tasks it read there")];
}

registerConnectForm("todoist", todoistForm);
