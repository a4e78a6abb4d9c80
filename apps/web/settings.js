// The settings sheet: a task of one's own, time zone, quiet hours, habits (and doing one today),
// connections, permissions, export, delete. Each change is an event through the client's outbox (so
// it is kept offline too); the sheet reads back GET /v1/me/settings, GET /v1/me/consents and
// GET /v1/me/integrations. Connecting a provider is a call, not an event: it only makes sense online.
import { outcomeWords, showConnections } from "/connections.js";
import { loadKnowledge } from "/knows.js";
import { loadSessions, setUpSessions } from "/sessions.js";
import { describeTask, parseTask, todayIn } from "/quickadd.js";
import { hhmm } from "/time.js";

const $ = (id) => document.getElementById(id);
/** The 24 hours as options; `null` chosen shows "--:--" (nothing chosen yet). */
const hours = (select, chosen) => {
  const options = Array.from({ length: 24 }, (_, hour) => new Option(hhmm(hour), String(hour)));
  if (chosen === null) options.unshift(new Option("--:--", ""));
  select.replaceChildren(...options);
  select.value = chosen === null ? "" : String(chosen);
};

let oo = null;
let savedQuiet = null; // the quiet hours the server holds, {start_hour, end_hour}, or null
let accountZone = null; // the account's zone: a task's due day is a day there, whatever the device's
let consents = []; // GET /v1/me/consents: the words (and their version) a connection's consent shows
let listed = []; // GET /v1/me/integrations: the providers this server offers, and any still connected
let hooks = { onHabitAdded: () => {}, onChanged: () => {}, onDeleted: () => {} };
const deviceZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
// Each purpose's name on the page; its words come from the server, with the version they are.
const PURPOSES = {
  core: "Use my signals",
  llm: "Language model",
  push: "Notifications",
  email: "Email",
  "integration:todoist": "Todoist",
  "integration:google_calendar": "Google Calendar",
  "integration:caldav": "CalDAV calendar",
  "integration:ics": "Calendar link",
};

function say(text) {
  $("settings-status").textContent = text;
}

function slug(name) {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "habit";
  return `${base}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Done today is the person's own day (the account's zone), as the server counts it. */
function doneToday() {
  return Object.assign(document.createElement("small"), { className: "done-today", textContent: "done today" });
}

async function markDone(habit, button) {
  await oo.signal("profile.habit_done.v1", { habit_id: habit.habit_id });
  const done = doneToday();
  done.tabIndex = -1; // the button it replaces had the focus: keep the keyboard's place in the list
  button.replaceWith(done);
  done.focus();
  say(`${habit.name}: done today.`);
  hooks.onChanged();
}

function showHabits(habits) {
  const list = $("habits");
  // The list is drawn again as the sheet's reads come back: the control the keyboard was on (named
  // by its label) has the focus again, so a press that follows lands where the person meant it.
  const focused = list.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
  list.replaceChildren(
    ...habits.map((habit) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.textContent = `${habit.name} · ${hhmm(habit.window_start_hour)}–${hhmm(habit.window_end_hour)}`;
      let done;
      if (habit.done_today) done = doneToday();
      else {
        done = Object.assign(document.createElement("button"), { type: "button", textContent: "Done today" });
        done.setAttribute("aria-label", `Done today: ${habit.name}`);
        done.addEventListener("click", () => markDone(habit, done));
      }
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${habit.name}`);
      remove.addEventListener("click", async () => {
        await oo.signal("profile.habit_removed.v1", { habit_id: habit.habit_id });
        item.remove();
        say(`Removed ${habit.name}.`);
      });
      const controls = Object.assign(document.createElement("span"), { className: "row" });
      controls.append(done, remove);
      item.append(label, controls);
      return item;
    }),
  );
  if (focused === null) return;
  [...list.querySelectorAll("button")].find((button) => button.getAttribute("aria-label") === focused)?.focus();
}

/** The account's zone in the list, and an offer to take this device's when it is elsewhere. */
function showZone(zone) {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  // The browser's list leaves out aliases such as UTC, which a device or the account may be in.
  const names = new Set([zone, ...zones, deviceZone(), "UTC"]);
  $("timezone").replaceChildren(...[...names].map((name) => new Option(name, name)));
  $("timezone").value = zone;
  $("device-zone").textContent = deviceZone();
  $("zone-offer").hidden = zone === null || zone === deviceZone();
}

/** A provider's permission is asked only where the server offers the provider (a server without a
 *  Google client does not list Google Calendar), or where the person has answered it, so they can
 *  withdraw it. */
function offered(consent) {
  if (!consent.purpose.startsWith("integration:") || consent.version !== null) return true;
  return listed.some((integration) => integration.consent === consent.purpose);
}

/** One switch per purpose, beside its name and the words the person agrees to. */
function showConsents(consents) {
  $("consents").replaceChildren(
    ...consents.filter(offered).map((consent, index) => {
      const name = PURPOSES[consent.purpose] ?? consent.purpose;
      const item = document.createElement("li");
      const words = Object.assign(document.createElement("span"), { className: "consent-words" });
      const text = Object.assign(document.createElement("small"), { id: `consent-${index}`, textContent: consent.text });
      words.append(Object.assign(document.createElement("span"), { textContent: name }), text);
      const toggle = Object.assign(document.createElement("button"), { type: "button", className: "switch" });
      toggle.setAttribute("role", "switch");
      toggle.setAttribute("aria-checked", String(consent.granted));
      toggle.setAttribute("aria-label", name);
      toggle.setAttribute("aria-describedby", text.id);
      toggle.addEventListener("click", () => answerConsent(consent, name, toggle));
      item.append(words, toggle);
      return item;
    }),
  );
}

/** The answer names the version of the words shown, and travels through the outbox like any signal. */
async function answerConsent(consent, name, toggle) {
  const granted = toggle.getAttribute("aria-checked") !== "true";
  toggle.setAttribute("aria-checked", String(granted));
  const answer = { purpose: consent.purpose, granted, version: consent.current_version, how: "page" };
  await oo.signal("profile.consent_set.v1", answer);
  say(`${name}: ${granted ? "on" : "off"}.`);
  hooks.onChanged();
}

async function load() {
  hours($("habit-start"), 8);
  hours($("habit-end"), 10);
  try {
    const settings = await oo.settings();
    accountZone = settings.timezone;
    showZone(settings.timezone);
    showQuietHours(settings.quiet_hours);
    showHabits(settings.habits);
  } catch {
    showZone(deviceZone());
    $("zone-offer").hidden = true;
    showQuietHours(null);
    say("Settings could not be read right now.");
  }
  try {
    consents = (await oo.consents()).consents;
  } catch {
    consents = [];
    say("Settings could not be read right now.");
  }
  await loadConnections();
  showConsents(consents); // after the connections: which providers the server offers
  await loadSessions({ oo, say });
  readKnowledge();
}

/** Not awaited: it asks ML, and the sheet is usable before it answers. */
function readKnowledge() {
  loadKnowledge({ oo, say, reload: load });
}

async function loadConnections() {
  try {
    listed = (await oo.integrations()).integrations;
    showConnections(listed, {
      oo,
      zone: accountZone ?? undefined,
      consent: (purpose) => consents.find((consent) => consent.purpose === purpose),
      say,
      changed: () => hooks.onChanged(),
      // A connection changes what oO knows (its tasks, its busy times, the connection itself).
      reload: async () => {
        await loadConnections();
        readKnowledge();
      },
    });
  } catch {
    listed = [];
    showConnections([], {}); // offline: no connection can be made or read anyway
  }
}

/** Today in the account's zone: "tomorrow" written in Tokyo late at night is Tokyo's tomorrow. */
const today = () => todayIn(accountZone ?? deviceZone());

/** What the line says now, under the field, before it is added. */
function understand() {
  const line = $("task-line").value;
  if (!line.trim()) return ($("task-understood").textContent = "");
  const task = parseTask(line, today());
  $("task-understood").textContent = task.problem ?? describeTask(task, today());
}

/** The line as `integrations.task_added.v2`, through the outbox with a fresh id. */
async function addTask() {
  const task = parseTask($("task-line").value, today());
  if (task.problem) return say(task.problem);
  const payload = { task_id: `task-${crypto.randomUUID()}`, title: task.title };
  if (task.estimated_minutes) payload.estimated_minutes = task.estimated_minutes;
  if (task.due_date) payload.due_date = task.due_date;
  const said = describeTask(task, today());
  await oo.signal("integrations.task_added.v2", payload);
  $("task-line").value = "";
  $("task-understood").textContent = "";
  say(`Added ${said}`); // stays until the next action: the person may look up from the field first
  hooks.onChanged();
}

/** Open the sheet; `focus`: "habit", "task" or "connections"; `back`: {provider, result} of a return
 *  from a provider's page, said once the sheet has loaded, the focus on that provider's own row (not the
 *  first listed), so Enter acts on the provider just returned from. */
export async function openSettings(focus = null, back = null) {
  const dialog = $("settings");
  if (!dialog.open) {
    say(""); // a message stays until the sheet's next action, or until the sheet is opened again
    dialog.showModal();
  }
  const placed = document.activeElement;
  await load();
  const returned = back ? listed.find((integration) => integration.provider === back.provider) : null;
  if (back) say(outcomeWords(back.provider, back.result, returned) ?? "");
  const row = back ? $("connections").querySelector(`li[data-provider="${CSS.escape(back.provider)}"]`) : null;
  const connection = row?.querySelector(".connection-controls button") ?? $("connections").querySelector("button");
  const first = { habit: $("habit-name"), task: $("task-line"), connections: connection };
  // A person who moved while the sheet was reading (to a habit's Done, say) keeps their place: a focus
  // taken back when the reads end would send their next key somewhere else.
  if (document.activeElement !== placed && dialog.contains(document.activeElement)) return;
  (first[focus] ?? $("timezone")).focus();
}

/** The account's zone, for every device: the page keeps none of its own. */
async function saveTimezone(zone) {
  await oo.signal("profile.timezone_set.v1", { timezone: zone });
  showZone(zone);
  say(`Time zone: ${zone}.`);
  hooks.onChanged();
}

function showQuietHours(quiet) {
  savedQuiet = quiet;
  hours($("quiet-start"), quiet?.start_hour ?? null);
  hours($("quiet-end"), quiet?.end_hour ?? null);
  quietChosen();
}

/** The pair as chosen now, or null while either end is still "--:--". */
function quietPair() {
  const [start, end] = [$("quiet-start").value, $("quiet-end").value];
  return start === "" || end === "" ? null : { start_hour: Number(start), end_hour: Number(end) };
}

/** Only a whole, valid pair can be saved, and only by Save: one end alone is never sent. */
function quietChosen() {
  const pair = quietPair();
  const same = pair !== null && pair.start_hour === pair.end_hour;
  const saved = pair !== null && savedQuiet?.start_hour === pair.start_hour && savedQuiet?.end_hour === pair.end_hour;
  $("quiet-save").disabled = pair === null || same || saved;
  $("quiet-off").hidden = savedQuiet === null;
  const waiting = pair !== null && !same && !saved;
  $("quiet-note").textContent = same ? "Pick two different hours." : waiting ? "Not saved yet." : "No tips in these hours.";
}

async function saveQuietHours(pair) {
  await oo.signal("profile.quiet_hours_set.v1", pair ?? { start_hour: 0, end_hour: 0 }); // equal hours: off
  showQuietHours(pair);
  say(pair ? `Quiet from ${hhmm(pair.start_hour)} to ${hhmm(pair.end_hour)}.` : "No quiet hours.");
  hooks.onChanged();
}

async function addHabit() {
  const name = $("habit-name").value.trim();
  const start = Number($("habit-start").value);
  const end = Number($("habit-end").value) || 24;
  if (!name) return say("Name the habit first.");
  if (end <= start) return say("The window must end after it starts.");
  await oo.signal("profile.habit_defined.v1", {
    habit_id: slug(name),
    name,
    window_start_hour: start,
    window_end_hour: end,
  });
  $("habit-name").value = "";
  say(`Added ${name}.`);
  try {
    showHabits((await oo.settings()).habits); // only the list: a quiet-hours choice not yet saved stays
  } catch {
    // the habit is in the outbox; the list catches up the next time the sheet opens
  }
  hooks.onHabitAdded();
}

async function exportData() {
  try {
    const data = await oo.exportData();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    link.download = `oo-export-${new Date().toISOString().slice(0, 10)}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000); // the download reads it after the click
    say("Your data is downloading.");
  } catch (error) {
    say(`Export failed: ${error.message}`);
  }
}

async function deleteAccount() {
  try {
    await oo.deleteAccount();
    $("settings").close();
    hooks.onDeleted();
  } catch (error) {
    say(`Deletion failed: ${error.message}`);
  }
}

export function setUpSettings(client, callbacks) {
  oo = client;
  hooks = callbacks;
  $("timezone").addEventListener("change", () => saveTimezone($("timezone").value));
  $("use-device-zone").addEventListener("click", () => saveTimezone(deviceZone()));
  $("quiet-start").addEventListener("change", quietChosen);
  $("quiet-end").addEventListener("change", quietChosen);
  $("quiet-save").addEventListener("click", () => saveQuietHours(quietPair()));
  $("quiet-off").addEventListener("click", () => saveQuietHours(null));
  $("habit-save").addEventListener("click", addHabit);
  $("task-line").addEventListener("input", understand);
  $("task-line").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault(); // Enter in the sheet's form would close the dialog
    addTask();
  });
  $("task-add").addEventListener("click", addTask);
  $("export").addEventListener("click", exportData);
  $("delete").addEventListener("click", () => {
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  });
  $("delete-no").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
  });
  $("delete-yes").addEventListener("click", deleteAccount);
  setUpSessions(client);
}
