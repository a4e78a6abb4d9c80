// The first-run step that asks for a new person's tasks (the server's `tasks` prompt, shown after the
// check-in while oO knows no task of theirs): Connect Todoist (when this server offers it), a task in
// one line (the quick-add's grammar), or Not now. Whatever the answer, it is recorded on the account
// (`profile.first_run_answered.v1`) before the step's reaction, so no device offers the step again.
import { connect } from "/connections.js";
import { describeTask, parseTask, todayIn } from "/quickadd.js";

const $ = (id) => document.getElementById(id);
let oo = null;
let hooks = { react: async () => {}, status: () => {} };
let todoist = null; // Todoist's entry in GET /v1/me/integrations, when it can be connected from here
let consents = [];
let zone = null; // the account's: a task's due day is a day there

const answer = (value) => oo.signal("profile.first_run_answered.v1", { step: "tasks", answer: value });

/** The step is on the face: what can be offered depends on the server (is Todoist there? connected?). */
export async function offerTasks() {
  $("step-task-understood").textContent = "";
  $("step-connect-todoist").hidden = true;
  try {
    const [{ integrations }, settings, answers] = await Promise.all([oo.integrations(), oo.settings(), oo.consents()]);
    zone = settings.timezone;
    consents = answers.consents;
    todoist = integrations.find((each) => each.provider === "todoist" && each.status !== "connected") ?? null;
  } catch {
    todoist = null; // offline: a task in one line, or not now, still go through the outbox
  }
  $("step-connect-todoist").hidden = todoist === null;
}

async function connectTodoist() {
  if (!todoist) return;
  await answer("connecting");
  await hooks.react("done");
  await connect(todoist, { oo, consent: (purpose) => consents.find((c) => c.purpose === purpose), say: hooks.status }, false);
}

async function addTask() {
  const today = todayIn(zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  const task = parseTask($("step-task-line").value, today);
  if (task.problem) {
    $("step-task-understood").textContent = task.problem;
    return $("step-task-line").focus();
  }
  const payload = { task_id: `task-${crypto.randomUUID()}`, title: task.title };
  if (task.estimated_minutes) payload.estimated_minutes = task.estimated_minutes;
  if (task.due_date) payload.due_date = task.due_date;
  await oo.signal("integrations.task_added.v2", payload);
  await answer("task_added");
  $("step-task-line").value = "";
  $("step-task-understood").textContent = `Added ${describeTask(task, today)}`;
  await hooks.react("done");
}

async function notNow() {
  await answer("not_now");
  await hooks.react("dismiss");
}

/** `callbacks`: react(reaction) on the step's decision (then the face asks again), status(text). */
export function setUpTasksStep(client, callbacks) {
  oo = client;
  hooks = callbacks;
  $("step-connect-todoist").addEventListener("click", connectTodoist);
  $("step-task-add").addEventListener("click", addTask);
  $("step-task-line").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    addTask();
  });
  $("step-not-now").addEventListener("click", notNow);
}
