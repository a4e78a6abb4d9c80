// The sheet's "Sessions": the browsers signed in as this person, this one marked, each but this one
// signed out on its own; "Sign out" and "Sign out everywhere". Shown only for a signed-in session
// (local mode has no login, so no list).

const $ = (id) => document.getElementById(id);
let client = null;
let tell = () => {};

function row(session) {
  const item = document.createElement("li");
  const seen = new Date(session.last_seen_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const label = document.createElement("span");
  label.textContent = session.current ? `${session.device} · this one` : `${session.device} · last seen ${seen}`;
  item.append(label);
  if (!session.current) {
    const end = document.createElement("button");
    end.type = "button";
    end.className = "quiet";
    end.textContent = "Sign out";
    end.setAttribute("aria-label", `Sign out ${session.device}, last seen ${seen}`);
    end.addEventListener("click", async () => {
      try {
        await client.endSession(session.session_id);
        item.remove();
      } catch (error) {
        tell(`Signing out failed: ${error.message}`);
      }
    });
    item.append(end);
  }
  return item;
}

export async function loadSessions({ oo, say }) {
  client = oo;
  tell = say;
  let sessions = [];
  try {
    sessions = await oo.sessions();
  } catch {
    sessions = [];
  }
  const signedIn = sessions.some((session) => session.current);
  $("sessions-section").hidden = !signedIn;
  if (signedIn) $("sessions").replaceChildren(...sessions.map(row));
}

async function leave(how) {
  try {
    await how();
    localStorage.clear(); // what the page kept was this person's
    location.assign("/");
  } catch (error) {
    tell(`Signing out failed: ${error.message}`);
  }
}

export function setUpSessions(oo) {
  client = oo;
  $("sign-out").addEventListener("click", () => leave(() => client.signOut()));
  $("sign-out-everywhere").addEventListener("click", () => leave(() => client.signOutEverywhere()));
}
