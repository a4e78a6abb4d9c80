// The sheet's "What oO knows about me": every fact GET /v1/me/knowledge lists, grouped, in the server's
// own words — and what the policy learned, in sentences the person's reactions bear out (ADR 0026).
// A fact that can go on its own has a Delete, asked twice; "Forget what you learned", asked twice,
// starts the policy again from what oO assumes of everyone. Both are calls, not outbox signals: the
// list shows what the server holds, so it asks the server, and reads the sheet again after.

const $ = (id) => document.getElementById(id);
// The groups in the order a person looks for them; the server's keys (oo_contracts.knowledge).
const GROUPS = [
  ["learned", "What oO learned"],
  ["habits", "Habits"],
  ["tasks", "Tasks"],
  ["checkins", "Latest check-ins"],
  ["connections", "Connections"],
  ["settings", "Time zone and quiet hours"],
  ["consents", "Permissions"],
];

let context = { oo: null, say: () => {}, reload: async () => {} };
let reads = 0; // reads overlap (the sheet opens, then a connection changes): only the latest is shown

const element = (tag, props = {}) => Object.assign(document.createElement(tag), props);
const button = (text, className = "") => element("button", { type: "button", textContent: text, className });

/** A question and its two answers under `anchor`; the safe answer has the focus, as for the account's deletion. */
function confirm(anchor, question, yesText, onYes) {
  anchor.parentElement.querySelector(".confirm")?.remove();
  const box = element("div", { className: "confirm" });
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", question);
  const yes = button(yesText, "danger");
  const no = button("Keep it");
  no.addEventListener("click", () => {
    box.remove();
    anchor.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    await onYes();
  });
  box.append(element("p", { textContent: question }), yes, no);
  anchor.after(box);
  no.focus();
}

async function forgetItem(item) {
  try {
    await context.oo.request("DELETE", `/v1/me/knowledge/${encodeURIComponent(item.id)}`);
    context.say(`Deleted: ${item.text}.`);
  } catch (error) {
    context.say(error.status === 404 ? "That was already gone." : `Could not delete it: ${error.message}`);
  }
  await context.reload();
  $("knows").focus();
}

async function forgetLearning() {
  try {
    await context.oo.request("POST", "/v1/me/knowledge/forget-learning");
    context.say("oO forgot what it learned from your reactions.");
  } catch (error) {
    context.say(`Could not forget: ${error.message}`);
  }
  await context.reload();
  $("knows").focus();
}

function itemRow(item, index) {
  const row = element("li", { className: "known" });
  const words = element("span", { className: "consent-words" });
  const how = element("small", { id: `knows-how-${index}`, textContent: item.how });
  words.append(element("span", { textContent: item.text }), how);
  row.append(words);
  if (item.removal === "delete") {
    const remove = button("Delete", "quiet");
    remove.setAttribute("aria-label", `Delete: ${item.text}`);
    remove.setAttribute("aria-describedby", how.id);
    remove.addEventListener("click", () =>
      confirm(remove, `Delete “${item.text}” from what oO knows?`, "Yes, delete it", () => forgetItem(item)),
    );
    row.append(remove);
  }
  return row;
}

function show(knowledge) {
  let index = 0;
  const parts = [];
  for (const [key, title] of GROUPS) {
    const items = knowledge[key] ?? [];
    if (key !== "learned" && items.length === 0) continue;
    const list = element("ul", { className: "consents" });
    list.append(...items.map((item) => itemRow(item, index++)));
    const heading = element("h3", { className: "knows-group", textContent: title });
    parts.push(heading);
    if (key === "learned" && items.length === 0) {
      parts.push(element("p", { className: "note", id: "knows-nothing-learned", textContent: "Nothing learned yet." }));
    } else parts.push(list);
  }
  const forget = button("Forget what you learned", "danger");
  forget.id = "knows-forget";
  forget.addEventListener("click", () =>
    confirm(
      forget,
      "Forget everything oO learned from your reactions? Your tasks, habits and settings stay.",
      "Yes, forget it",
      forgetLearning,
    ),
  );
  const forgetRow = element("div", { className: "row" });
  forgetRow.append(forget);
  $("knows").replaceChildren(...parts, forgetRow);
}

/** Read and show the list; `say` writes the sheet's status, `reload` reads the whole sheet again. */
export async function loadKnowledge({ oo, say, reload }) {
  context = { oo, say, reload };
  const read = ++reads;
  try {
    const knowledge = await oo.request("GET", "/v1/me/knowledge");
    if (read === reads) show(knowledge);
  } catch {
    if (read !== reads) return;
    $("knows").replaceChildren(element("p", { className: "note", textContent: "This cannot be read right now." }));
  }
}
