// The operator's event viewer: the recent events, then each new one as it is stored, from
// GET /v1/admin/events/stream (Server-Sent Events). Only an admin may watch (`oo users role ID admin`);
// a person's own words never reach this page, the server replaces them.
const $ = (id) => document.getElementById(id);
const SHOWN = 500; // the newest this many stay on the page
let source = null;

function query() {
  const params = new URLSearchParams();
  if ($("type").value.trim()) params.set("type", $("type").value.trim());
  if ($("person").value.trim()) params.set("user_id", $("person").value.trim());
  return params.toString();
}

function show(event) {
  const item = document.createElement("li");
  const head = Object.assign(document.createElement("p"), {
    textContent: `${new Date(event.occurred_at).toLocaleString()} · ${event.type} · ${event.user_id} · ${event.source}`,
  });
  const payload = Object.assign(document.createElement("pre"), { textContent: JSON.stringify(event.payload) });
  item.append(head, payload);
  $("events").prepend(item);
  while ($("events").children.length > SHOWN) $("events").lastElementChild.remove();
}

async function watch() {
  source?.close();
  $("events").replaceChildren();
  const filter = query();
  // EventSource hides an error's status: ask once in plain HTTP to say why it would fail.
  const probe = await fetch(`/v1/admin/events?limit=1${filter ? `&${filter}` : ""}`, { credentials: "same-origin" });
  if (probe.status === 401) return say("Sign in first, on oO's page.");
  if (probe.status === 403) return say("This page is for oO's operators: an operator runs `oo users role <your id> admin`.");
  if (probe.status === 422) return say("A filter is not one: a type looks like profile.checkin_recorded.v2, a person like usr_….");
  if (probe.status === 503 && (await probe.json()).error?.code === "events_unavailable")
    return say("The events cannot be read right now: oO cannot reach NATS, where every process's events meet. Try again shortly.");
  if (!probe.ok) return say("The events cannot be read right now.");
  source = new EventSource(`/v1/admin/events/stream${filter ? `?${filter}` : ""}`);
  source.onopen = () => say("Watching.");
  source.onmessage = (message) => show(JSON.parse(message.data));
  // EventSource reconnects by itself, unless an answer was not a stream (a 503): then it gives up.
  source.onerror = () =>
    say(source.readyState === EventSource.CLOSED ? "The stream stopped; reload to watch again." : "The stream was interrupted; reconnecting…");
}

function say(text) {
  $("state").textContent = text;
}

// The tools beside oO (MLflow, the pipelines' UI), where the operator configured them: links out, in
// their own tab and origin, never embedded.
async function tools() {
  const answer = await fetch("/v1/admin/links", { credentials: "same-origin" });
  if (!answer.ok) return;
  const links = (await answer.json()).map(({ name, url }) =>
    Object.assign(document.createElement("a"), { href: url, textContent: name, target: "_blank", rel: "noopener noreferrer" }),
  );
  $("tools").replaceChildren(...links);
  $("tools").hidden = links.length === 0;
}

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  watch();
});
watch();
tools();
