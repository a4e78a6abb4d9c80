// The settings sheet: time zone, quiet hours, habits, export, delete. Each change is an event
// through the client's outbox (so it is kept offline too); the sheet reads back GET /v1/me/settings.

const $ = (id) => document.getElementById(id);
const hours = (select, chosen) => {
  select.replaceChildren(
    ...Array.from({ length: 24 }, (_, hour) => new Option(`${String(hour).padStart(2, "0")}:00`, String(hour))),
  );
  select.value = String(chosen);
};

let oo = null;
let hooks = { context: () => ({}), onHabitAdded: () => {}, onChanged: () => {}, onDeleted: () => {} };

function say(text) {
  $("settings-status").textContent = text;
}

function slug(name) {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "habit";
  return `${base}-${crypto.randomUUID().slice(0, 8)}`;
}

function showHabits(habits) {
  $("habits").replaceChildren(
    ...habits.map((habit) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.textContent = `${habit.name} · ${habit.window_start_hour}–${habit.window_end_hour} h`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${habit.name}`);
      remove.addEventListener("click", async () => {
        await oo.signal("profile.habit_removed.v1", { habit_id: habit.habit_id });
        item.remove();
        say(`Removed ${habit.name}.`);
      });
      item.append(label, remove);
      return item;
    }),
  );
}

async function load() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const chosenZone = localStorage.getItem("oo.timezone") || browserZone;
  $("timezone").replaceChildren(...[...new Set([chosenZone, ...zones])].map((zone) => new Option(zone, zone)));
  $("timezone").value = chosenZone;
  hours($("habit-start"), 8);
  hours($("habit-end"), 10);
  try {
    const settings = await oo.settings();
    hours($("quiet-start"), settings.quiet_hours?.start_hour ?? 0);
    hours($("quiet-end"), settings.quiet_hours?.end_hour ?? 0);
    showHabits(settings.habits);
  } catch {
    hours($("quiet-start"), 0);
    hours($("quiet-end"), 0);
    say("Settings could not be read right now.");
  }
}

export async function openSettings(focus = null) {
  const dialog = $("settings");
  if (!dialog.open) {
    say(""); // a message stays until the sheet's next action, or until the sheet is opened again
    dialog.showModal();
  }
  await load();
  (focus === "habit" ? $("habit-name") : $("timezone")).focus();
}

async function saveTimezone() {
  const zone = $("timezone").value;
  localStorage.setItem("oo.timezone", zone);
  await oo.signal("recommender.context_observed.v1", hooks.context());
  say(`Time zone: ${zone}.`);
  hooks.onChanged();
}

async function saveQuietHours() {
  const start_hour = Number($("quiet-start").value);
  const end_hour = Number($("quiet-end").value);
  await oo.signal("profile.quiet_hours_set.v1", { start_hour, end_hour });
  say(start_hour === end_hour ? "No quiet hours." : `Quiet from ${start_hour}:00 to ${end_hour}:00.`);
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
  await load();
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
  $("timezone").addEventListener("change", saveTimezone);
  $("quiet-start").addEventListener("change", saveQuietHours);
  $("quiet-end").addEventListener("change", saveQuietHours);
  $("habit-save").addEventListener("click", addHabit);
  $("export").addEventListener("click", exportData);
  $("delete").addEventListener("click", () => {
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  });
  $("delete-no").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
  });
  $("delete-yes").addEventListener("click", deleteAccount);
}
