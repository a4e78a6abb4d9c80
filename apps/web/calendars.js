// The calendars' connect forms in the sheet's Connections: a CalDAV server (address, user name, app
// password), an ICS subscription link, and Google Calendar's sign-in. Each grants its consent with the
// words shown beside it, then connects; the server reads the calendar at once, and when it cannot, its
// 422 names why, said here in words next to the field it is about. Once connected: Refresh now and
// Disconnect, as for Todoist. oO keeps only when the person is busy, never what the events are.
import { OoError } from "/sdk/oo-client.js";
import {
  button,
  connectedControls,
  consentWords,
  element,
  grantConsent,
  nameOf,
  registerConnectForm,
} from "/connections.js";

const FORGETS = "the busy times it read there";
const ADDRESS = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/\S+$/; // the contract's own pattern for a URL
// The server's 422 codes (services/integrations/calendar), each as [field, words].
const CALDAV_PROBLEMS = {
  calendar_unauthorized: ["password", "The server refused this user name and password"],
  calendar_unreachable: ["url", "The server could not be reached — check the address"],
  calendar_not_caldav: ["url", "This address does not answer as a CalDAV server"],
  calendar_invalid_url: ["url", "oO cannot use this address: it must start with https:// (http:// only on this machine)"],
  calendar_bad_answer: ["url", "The server answered with something that is not a calendar"],
};
const ICS_PROBLEMS = {
  calendar_link_refused: ["url", "This link no longer works — copy it again from your calendar"],
  calendar_unreachable: ["url", "This link could not be reached — check it, or try again in a moment"],
  calendar_unavailable: ["url", "This link does not answer now — try again in a moment"],
  calendar_not_a_calendar: ["url", "This link does not lead to a calendar"],
  calendar_too_large: ["url", "The calendar behind this link is too large for oO to read"],
  calendar_invalid_url: ["url", "oO cannot use this link: it must start with https:// or webcal://"],
  calendar_bad_answer: ["url", "The link answered with something that is not a calendar"],
};
// A field the server's validation refused (`invalid_request`), by the last part of its dotted path.
const INVALID = {
  url: "This is not an address: it starts with https://",
  username: "Write the user name",
  password: "Write the app password",
};

/** One labelled field with a place for what is wrong with it, said next to it. */
function field(provider, key, label, props) {
  const input = element("input", { id: `${provider}-${key}`, autocomplete: "off", ...props });
  const problem = element("small", { className: "note field-problem", id: `${provider}-${key}-problem` });
  input.setAttribute("aria-describedby", problem.id);
  const wrap = element("label", { className: "connect-field" });
  wrap.append(element("span", { textContent: label }), input);
  return { key, input, problem, nodes: [wrap, problem] };
}

function showProblem(fields, key, words) {
  const target = fields.find((each) => each.key === key) ?? fields[0];
  target.problem.textContent = words;
  target.input.setAttribute("aria-invalid", "true");
  target.input.focus();
}

function clearProblems(fields) {
  for (const each of fields) {
    each.problem.textContent = "";
    each.input.removeAttribute("aria-invalid");
  }
}

/** The server's refusal, next to its field; anything else at the foot of the sheet. */
function refused(error, fields, problems, integration, context) {
  const name = nameOf(integration.provider);
  if (!(error instanceof OoError)) return context.say(`${name} could not be reached from here — are you online?`);
  if (Object.hasOwn(problems, error.code)) return showProblem(fields, ...problems[error.code]);
  if (error.code === "invalid_request") {
    const key = (error.items[0]?.field ?? "").split(".").pop();
    return showProblem(fields, key, INVALID[key] ?? "Check this field");
  }
  if (error.code === "consent_required") return context.say(`oO may not read ${name}: it is off in Permissions.`);
  context.say(`${name} could not be connected: ${error.message}`);
}

/** A form of `fields` and its Connect button: checked here first, then `send(values)` once the consent
 *  is granted. Enter in a field connects (and keeps the sheet open). */
function connectForm(integration, context, fields, send, problems) {
  const name = nameOf(integration.provider);
  const words = consentWords(integration, context);
  const again = integration.status === "broken";
  const go = async () => {
    clearProblems(fields);
    // A password is sent as typed; an address or a name without the spaces around it.
    const typed = (input) => (input.type === "password" ? input.value : input.value.trim());
    const values = Object.fromEntries(fields.map((each) => [each.key, typed(each.input)]));
    const empty = fields.find((each) => !values[each.key]);
    if (empty) return showProblem(fields, empty.key, INVALID[empty.key]);
    if (!ADDRESS.test(values.url)) return showProblem(fields, "url", INVALID.url);
    // The password leaves the page with this request and is not kept in it: the field is emptied first.
    for (const each of fields) if (each.input.type === "password") each.input.value = "";
    if (!(await grantConsent(integration, context))) return;
    context.say(`Connecting ${name}…`);
    try {
      await send(values);
    } catch (error) {
      context.say("");
      return refused(error, fields, problems, integration, context);
    }
    context.say(`${name} connected — reading when you are busy.`);
    await context.reload();
    context.changed();
  };
  for (const each of fields) {
    each.input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault(); // Enter in the sheet's form would close the dialog
      go();
    });
  }
  const label = `${again ? "Connect again" : "Connect"} ${name}`;
  const connect = button(again ? "Connect again" : "Connect", go, { label });
  connect.setAttribute("aria-describedby", words.id);
  const controls = element("div", { className: "row connection-controls" });
  controls.append(connect);
  const form = element("div", { className: "connect-form" });
  form.append(...fields.flatMap((each) => each.nodes), controls);
  return [words, form];
}

function calDavForm(integration, context) {
  if (integration.status === "connected") return connectedControls(integration, context, FORGETS);
  const fields = [
    field("caldav", "url", "Server address", { type: "url", inputMode: "url", placeholder: "https://dav.example.org/" }),
    field("caldav", "username", "User name", { autocapitalize: "none", spellcheck: false }),
    field("caldav", "password", "App password", { type: "password" }),
  ];
  const send = ({ url, username, password }) => context.oo.connectCalDav({ url, username, password });
  return connectForm(integration, context, fields, send, CALDAV_PROBLEMS);
}

function icsForm(integration, context) {
  if (integration.status === "connected") return connectedControls(integration, context, FORGETS);
  const link = field("ics", "url", "Subscription link", { type: "url", inputMode: "url", placeholder: "webcal://…" });
  return connectForm(integration, context, [link], ({ url }) => context.oo.connectIcs(url), ICS_PROBLEMS);
}

/** Google: Connect goes to Google's consent screen through oO (a navigation: the browser's own session,
 *  or the local user in local mode), and Google sends the person back with the result in a word. */
function googleForm(integration, context) {
  if (integration.status === "connected") return connectedControls(integration, context, FORGETS);
  const name = nameOf(integration.provider);
  const words = consentWords(integration, context);
  const again = integration.status === "broken";
  const go = button(
    again ? "Connect again" : "Connect",
    async () => {
      if (!(await grantConsent(integration, context))) return;
      context.say(`Opening ${name}…`);
      location.assign(context.oo.googleCalendarConnectUrl());
    },
    { label: `${again ? "Connect again" : "Connect"} ${name}` },
  );
  go.setAttribute("aria-describedby", words.id);
  const controls = element("div", { className: "row connection-controls" });
  controls.append(go);
  return [words, controls];
}

registerConnectForm("caldav", calDavForm);
registerConnectForm("ics", icsForm);
registerConnectForm("google_calendar", googleForm);
