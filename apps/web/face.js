// The watch face: one tip, reactions by tap, swipe or key, the why on demand, and a calm face
// when silence wins. Everything the person does goes through the client's outbox, so it survives
// being offline; the last tip is kept so that an offline page still shows it.
import "/calendars.js"; // registers the calendars' connect forms in the sheet's Connections
import { outcomeWords } from "/connections.js";
import { offerTasks, setUpTasksStep } from "/firstrun.js";
import { OoClient } from "/sdk/oo-client.js";
import { openSettings, setUpSettings } from "/settings.js";
import { showSignIn } from "/signin.js";
import { timeOf } from "/time.js";

const oo = new OoClient();
const $ = (id) => document.getElementById(id);
const face = $("face");
const LAST_KEY = "oo.last";
// Set when the account is deleted: in local mode any request would make a new person, so the page
// asks nothing until the person chooses to start again.
const DELETED_KEY = "oo.deleted";
const LONG_PRESS_MS = 450;
const SWIPE_PX = 70;
const REASON_WAIT_MS = 6000;
const UNDO_MS = 5000;
const SAID = { done: "Done", later: "Later", dismiss: "Not for me" };
const REASONS = {
  busy: "busy",
  wrong_task: "wrong task",
  too_big: "too big",
  not_relevant: "not relevant",
  wrong_why: "the why is wrong",
};

let deleted = false;
let firstTipShown = false;
let current = null; // {decision_id, tip, silence, retry_after, until}
// The account's time zone (GET /v1/me/settings): every time the face shows is in it, so two devices
// in different zones show the same times. Until it is known, the device's own.
let accountZone = null;
let nextAsk = null;
let reasonTimer = null;
let pendingReaction = null;
let held = null; // a reaction in its undo window: {decision, reaction, reason, timer}
let awaitingOutbox = false; // the face waits, blank, for a reaction still in the outbox
const checkin = {};
const NOUNS = { feedback: ["reaction", "reactions"], events: ["update", "updates"] };

// The device's zone: the server keeps it as the account's only while the account has none.
const clientContext = () => ({
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  device_class: matchMedia("(max-width: 700px)").matches ? "phone" : "desktop",
});

function status(text) {
  $("status").textContent = text;
}

function schedule(seconds) {
  clearTimeout(nextAsk);
  nextAsk = setTimeout(ask, Math.max(5, seconds) * 1000);
}

/** What the small line above the tip calls it: a first-run step by what it asks, a tip by its kind. */
function kindLabel(tip) {
  if (tip.prompt === "habit") return "habit";
  if (tip.prompt === "tasks") return "first step";
  return tip.kind === "checkin" ? "check-in" : tip.kind;
}

/** Quiet hours are the person's own rule, so the face names them (above) and says when they end. */
function silenceText(answer) {
  if (answer?.silence === "quiet_hours" && answer.until) {
    return `Until ${timeOf(new Date(answer.until), accountZone ?? undefined)}.`;
  }
  return "Nothing now.";
}

/** The sentence the face shows: the tip, the farewell, the pause (the person turned processing off), or
 *  the silence. */
function faceText(answer) {
  if (answer?.tip) return answer.tip.text;
  if (answer?.farewell) return "Deleted. oO has forgotten you.";
  if (answer?.welcome) return "Welcome.";
  if (answer?.paused) return "Paused.";
  return silenceText(answer);
}

async function learnZone() {
  try {
    accountZone = (await oo.settings()).timezone;
  } catch {
    // offline: the last zone known (or the device's) stands in
  }
}

/** Swap the face's content without a flash: fade out, change, fade in (instant if reduced motion). */
function render(answer) {
  current = answer;
  const reduced = matchMedia("(prefers-reduced-motion: reduce)").matches;
  const apply = () => {
    const tip = answer?.tip;
    const farewell = Boolean(answer?.farewell);
    $("kind").textContent = tip ? kindLabel(tip) : answer?.silence === "quiet_hours" ? "quiet hours" : "";
    $("text").textContent = faceText(answer);
    $("why").textContent = tip ? tip.why : "";
    $("why-panel").hidden = true;
    $("actions").hidden = !tip || tip.prompt === "tasks"; // the step has its own Not now
    $("reasons").hidden = true;
    $("checkin").hidden = tip?.prompt !== "checkin";
    $("habit-prompt").hidden = tip?.prompt !== "habit";
    $("welcome").hidden = !answer?.welcome;
    if (answer?.welcome) $("welcome-words").textContent = answer.welcome.text;
    $("tasks-prompt").hidden = tip?.prompt !== "tasks";
    if (tip?.prompt === "tasks") offerTasks();
    $("farewell").hidden = !farewell;
    $("open-settings").hidden = farewell; // the sheet reads the account, which would make a new one
    // Answering a prompt is the "done"; the button would only be a way to skip the answer.
    document.querySelector('[data-reaction="done"]').hidden = Boolean(tip?.prompt);
    for (const key of Object.keys(checkin)) delete checkin[key];
    $("checkin-save").hidden = true;
    for (const button of document.querySelectorAll(".scale button")) button.setAttribute("aria-pressed", "false");
    face.setAttribute("aria-busy", "false");
    face.classList.remove("changing");
    if (!tip && answer?.until && answer.silence !== "quiet_hours") {
      status(`next look at ${timeOf(new Date(answer.until), accountZone ?? undefined)}`);
    }
  };
  if (!firstTipShown) {
    firstTipShown = true;
    performance.mark("oo:first-tip");
  }
  if (reduced || !$("text").textContent.trim()) return apply();
  face.classList.add("changing");
  setTimeout(apply, 160);
}

async function ask() {
  clearTimeout(nextAsk);
  if (deleted || held) return; // a held reaction asks again once it is sent
  awaitingOutbox = false;
  try {
    await oo.flush();
    const answer = await oo.recommend(clientContext());
    // A silence says when it ends as seconds from now; kept as a moment, a reload offline still tells it right.
    answer.until = answer.retry_after ? Date.now() + answer.retry_after * 1000 : null;
    if (!answer.tip) await learnZone(); // a silence shows times; a tip needs no wait for the zone
    if (deleted) return; // deleted while the answer was on its way
    localStorage.setItem(LAST_KEY, JSON.stringify(answer));
    status("");
    if (answer.tip && answer.decision_id === current?.decision_id) return; // the same tip, held
    render(answer);
    if (!answer.tip) schedule(answer.retry_after || 900);
  } catch (error) {
    if (deleted) return;
    if (error.status === 401) return showSignIn(oo); // a server's page, not signed in (or no longer)
    if (error.code === "consent_required") {
      localStorage.removeItem(LAST_KEY);
      const core = await coreConsent();
      if (core && core.version === null) {
        // Never asked (a server's new person): the question itself, with its words, on the face.
        render({ tip: null, welcome: core });
        status("");
        return;
      }
      // The person turned off oO's use of their signals: nothing is asked until they turn it on again
      // in the sheet, which asks at once.
      render({ tip: null, paused: true });
      status("oO uses none of your signals. Settings turns it back on.");
      return;
    }
    const last = JSON.parse(localStorage.getItem(LAST_KEY) || "null");
    if (!current && last) render(last);
    else if (!current) render({ tip: null });
    status(navigator.onLine ? "oO is resting; trying again soon." : "Offline. Your reactions will be sent later.");
    schedule(30);
  }
}

async function coreConsent() {
  try {
    return (await oo.consents()).consents.find((consent) => consent.purpose === "core") ?? null;
  } catch {
    return null;
  }
}

/** The welcome's Allow: the person's yes to `core`, with the version of the words they were shown. */
async function allowCore() {
  const core = current?.welcome;
  if (!core) return;
  $("allow-core").disabled = true;
  await oo.signal("profile.consent_set.v1", { purpose: "core", granted: true, version: core.current_version, how: "page" });
  $("allow-core").disabled = false;
  ask();
}

/** Answering a prompt is its reaction, sent at once (the answer itself is already on its way). */
function react(reaction) {
  if (current?.tip && !held) return send(current.decision_id, reaction);
}

/** A reaction from the face waits here a few seconds with Undo before it goes, so a stray swipe or
 *  tap costs nothing: undone, it never reaches the server. */
function hold(reaction, reason = null) {
  if (!current?.tip || held) return;
  clearTimeout(reasonTimer);
  pendingReaction = null;
  held = { decision: current.decision_id, reaction, reason, timer: setTimeout(release, UNDO_MS) };
  $("reasons").hidden = true;
  $("actions").hidden = false; // as it will be if undone; hidden meanwhile by .held
  $("why-panel").hidden = true;
  $("undo-what").textContent = `${[SAID[reaction], REASONS[reason]].filter(Boolean).join(" · ")}.`;
  $("undo").hidden = false;
  face.classList.add("held");
  $("undo-button").focus();
}

function undo() {
  if (!held) return;
  clearTimeout(held.timer);
  held = null;
  $("undo").hidden = true;
  face.classList.remove("held");
  $("actions").querySelector("button:not([hidden])").focus();
}

/** The undo window is over, or the page is going away: the reaction goes into the outbox now. */
function release() {
  if (!held) return;
  const { decision, reaction, reason, timer } = held;
  clearTimeout(timer);
  held = null;
  $("undo").hidden = true;
  face.classList.remove("held");
  return send(decision, reaction, reason);
}

async function send(decision, reaction, reason = null) {
  clearTimeout(reasonTimer);
  pendingReaction = null;
  localStorage.removeItem(LAST_KEY); // the reacted tip must not come back as "the last tip"
  const waiting = await oo.react(decision, reaction, reason);
  if (waiting > 0) {
    render({ tip: null });
    status(navigator.onLine ? "Saved. It will be sent shortly." : "Saved. It will be sent when you're back online.");
    awaitingOutbox = true; // asked again once the outbox has done what it can (showOutbox)
    return;
  }
  await ask();
}

/** "1 reaction", "2 updates", "1 reaction and 1 update". */
function counted(items) {
  return Object.entries(NOUNS)
    .map(([kind, [one, many]]) => [items.filter((item) => item.kind === kind).length, one, many])
    .filter(([count]) => count > 0)
    .map(([count, one, many]) => `${count} ${count === 1 ? one : many}`)
    .join(" and ");
}

/** What the outbox could not deliver, said quietly on the face and on the sheet, with what to do. */
function showOutbox() {
  const aside = oo.setAside();
  const dropped = oo.dropped();
  const lines = [];
  if (aside.length) lines.push([`${counted(aside)} not delivered`, "Retry", () => oo.retry()]);
  if (dropped.length) lines.push([`${counted(dropped)} refused by oO and dropped`, "OK", () => oo.forgetDropped()]);
  const said = lines.map(([text]) => text).join("\n");
  for (const note of document.querySelectorAll(".outbox-note")) {
    if (note.dataset.said === said) continue; // unchanged: a focused button stays focused
    note.dataset.said = said;
    note.replaceChildren(
      ...lines.map(([text, action, act]) => {
        const line = document.createElement("p");
        const button = Object.assign(document.createElement("button"), { type: "button", className: "quiet" });
        button.textContent = action;
        button.addEventListener("click", act);
        line.append(Object.assign(document.createElement("span"), { textContent: text }), button);
        return line;
      }),
    );
  }
  if (awaitingOutbox && oo.waiting() === 0) ask();
}

/** Later and Not for me offer the optional reasons; the reaction goes once one is picked, or
 *  without one after a few seconds or on Skip. */
function chooseReaction(reaction) {
  // The tasks step is answered by its own buttons, each recorded on the account; a bare reaction is not.
  if (!current?.tip || held || current.tip.prompt === "tasks") return;
  if (reaction === "done") return hold("done");
  pendingReaction = reaction;
  $("actions").hidden = true;
  $("reasons").hidden = false;
  $("reasons").querySelector("button").focus();
  clearTimeout(reasonTimer);
  reasonTimer = setTimeout(() => hold(reaction), REASON_WAIT_MS);
}

function toggleWhy(show = $("why-panel").hidden) {
  if (!current?.tip || held) return;
  $("why-panel").hidden = !show;
}

/** Both scales answered: sent at once. One answered: Save (or Enter) sends just that one. */
async function answerCheckin(scale, value) {
  checkin[scale] = value;
  for (const button of document.querySelectorAll(`[data-scale="${scale}"] button`)) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.value) === value));
  }
  if (checkin.energy && checkin.mood) return saveCheckin();
  $("checkin-save").hidden = false;
}

async function saveCheckin() {
  const given = { ...checkin };
  if (!given.energy && !given.mood) return;
  for (const key of Object.keys(checkin)) delete checkin[key];
  $("checkin-save").hidden = true;
  // v1 is the whole check-in every server knows; v2 carries one scale alone.
  const type = given.energy && given.mood ? "profile.checkin_recorded.v1" : "profile.checkin_recorded.v2";
  await oo.signal(type, given);
  await react("done");
}

/** Five buttons per scale, with "low" under the 1 and "high" under the 5 (in the names too). */
function buildScales() {
  const ends = { 1: "low", 5: "high" };
  for (const scale of document.querySelectorAll(".scale")) {
    const name = scale.dataset.scale;
    for (let value = 1; value <= 5; value += 1) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(value);
      button.dataset.value = String(value);
      button.setAttribute("aria-label", `${name} ${value} of 5${ends[value] ? `, ${ends[value]}` : ""}`);
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => answerCheckin(name, value));
      scale.append(button);
    }
    const labels = document.createElement("p");
    labels.className = "ends";
    labels.setAttribute("aria-hidden", "true"); // the buttons' names say it already
    labels.append(...Object.values(ends).map((end) => Object.assign(document.createElement("span"), { textContent: end })));
    scale.after(labels);
  }
}

function onKey(event) {
  if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
  if ($("settings").open || event.target.matches("input, select")) return;
  const key = event.key.toLowerCase();
  if (held) {
    if (key === "u" || key === "z") undo();
    return;
  }
  if (!$("reasons").hidden) {
    const reasons = ["busy", "wrong_task", "too_big", "not_relevant"];
    if (key >= "1" && key <= "4") return hold(pendingReaction, reasons[Number(key) - 1]);
    if (key === "escape" || key === "0") return hold(pendingReaction);
    return;
  }
  if (!$("checkin").hidden && key >= "1" && key <= "5") {
    return answerCheckin(checkin.energy ? "mood" : "energy", Number(key));
  }
  if (!$("checkin").hidden && key === "enter" && !event.target.matches("button")) return saveCheckin();
  const actions = { d: "done", l: "later", n: "dismiss", x: "dismiss" };
  if (actions[key]) return chooseReaction(actions[key]);
  if (key === "w" || key === "?") return toggleWhy();
  if (key === "escape") return toggleWhy(false);
  if ((key === "s" || key === ",") && !deleted) return openSettings();
  if (key === "a" && !deleted) {
    event.preventDefault(); // the "a" is the key's, not the first letter of the task
    return openSettings("task");
  }
}

/** Swipe right: done; left: not for me; up: later. A long press on the tip shows why. */
function setUpGestures() {
  let start = null;
  let pressTimer = null;
  face.addEventListener("pointerdown", (event) => {
    if (event.target.closest("button, input, dialog")) return;
    start = { x: event.clientX, y: event.clientY, longPressed: false };
    pressTimer = setTimeout(() => {
      if (start) start.longPressed = true;
      toggleWhy(true);
    }, LONG_PRESS_MS);
  });
  face.addEventListener("pointermove", (event) => {
    if (start && Math.hypot(event.clientX - start.x, event.clientY - start.y) > 10) clearTimeout(pressTimer);
  });
  face.addEventListener("pointerup", (event) => {
    clearTimeout(pressTimer);
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    const longPressed = start.longPressed;
    start = null;
    if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) return chooseReaction(dx > 0 ? "done" : "dismiss");
    if (-dy > SWIPE_PX && Math.abs(dy) > Math.abs(dx)) return chooseReaction("later");
    if (!longPressed && event.target.closest("#text")) toggleWhy();
  });
  face.addEventListener("pointercancel", () => {
    clearTimeout(pressTimer);
    start = null;
  });
}

function setUp() {
  buildScales();
  for (const button of document.querySelectorAll("[data-reaction]")) {
    button.addEventListener("click", () => chooseReaction(button.dataset.reaction));
  }
  for (const button of document.querySelectorAll("[data-reason]")) {
    button.addEventListener("click", () => hold(pendingReaction, button.dataset.reason || null));
  }
  $("wrong").addEventListener("click", () => hold("dismiss", "wrong_why"));
  $("allow-core").addEventListener("click", allowCore);
  $("checkin-save").addEventListener("click", saveCheckin);
  $("undo-button").addEventListener("click", undo);
  $("add-habit").addEventListener("click", () => openSettings("habit"));
  setUpTasksStep(oo, { react, status });
  $("open-settings").addEventListener("click", () => openSettings());
  $("start-again").addEventListener("click", () => {
    localStorage.removeItem(DELETED_KEY);
    deleted = false;
    ask();
  });
  document.addEventListener("keydown", onKey);
  setUpGestures();
  oo.addEventListener("outbox", showOutbox);
  showOutbox();
  setUpSettings(oo, {
    onHabitAdded: () => (current?.tip?.prompt === "habit" ? react("done") : ask()),
    onChanged: async () => {
      await learnZone();
      ask();
    },
    onDeleted: () => {
      deleted = true;
      clearTimeout(nextAsk);
      if (held) clearTimeout(held.timer);
      held = null; // the account it was for is gone
      $("undo").hidden = true;
      face.classList.remove("held");
      localStorage.clear();
      localStorage.setItem(DELETED_KEY, "1");
      render({ farewell: true });
      status("");
    },
  });
  addEventListener("online", ask);
  // Leaving the page ends the undo window: the reaction is kept in the outbox, not lost.
  addEventListener("pagehide", release);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") ask();
    else release();
  });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  deleted = localStorage.getItem(DELETED_KEY) === "1";
  if (deleted) render({ farewell: true });
  else ask();
  if (!deleted) returnFromProvider();
}

/** Back from a provider's page (`/?integration=todoist&result=connected`): the sheet says how it went,
 *  among the connections, and the query leaves the address so a reload does not say it again. */
function returnFromProvider() {
  const query = new URLSearchParams(location.search);
  if (!query.has("integration")) return;
  const back = { provider: query.get("integration"), result: query.get("result") };
  history.replaceState(history.state, "", location.pathname + location.hash);
  if (outcomeWords(back.provider, back.result)) openSettings("connections", back);
}

setUp();
